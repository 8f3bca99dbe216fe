(ns shoal.test.tls
  "A TLS server and client on loopback for tests of certificates and SSLContexts: real JDK
  handshakes, one byte answered per connection."
  (:require [shoal.tls :as tls])
  (:import (java.net InetAddress)
           (java.util.concurrent LinkedBlockingQueue)
           (javax.net.ssl SSLContext SSLServerSocket SSLSocket)))

(defn serve
  "A TLS server on 127.0.0.1 (or `host`) with `ctx`: handshakes each connection, answers one
  byte, closes. Returns `{:port :socket :close fn :results queue}`, one result per connection:
  `{:ok peer-certs :protocol p}` or `{:error e}`."
  [^SSLContext ctx & [host]]
  (let [^SSLServerSocket ss (.createServerSocket (.getServerSocketFactory ctx) 0 50
                                                 (InetAddress/getByName (or host "127.0.0.1")))
        results (LinkedBlockingQueue.)
        t (doto (Thread.
                 (fn []
                   (loop []
                     (when-let [^SSLSocket s (try (.accept ss) (catch Exception _ nil))]
                       (try (.setSoTimeout s 5000)
                            (.startHandshake s)
                            (.put results {:ok (tls/peer-certificates (.getSession s))
                                           :protocol (.getProtocol (.getSession s))})
                            (.write (.getOutputStream s) 1)
                            (.flush (.getOutputStream s))
                            (catch Exception e (.put results {:error e}))
                            (finally (.close s)))
                       (recur))))
                 "test-tls-server")
            (.setDaemon true) (.start))]
    {:port (.getLocalPort ss) :results results :socket ss
     :close (fn [] (.close ss) (.join t 2000))}))

(defn connect
  "Handshakes with `host` (default 127.0.0.1):`port` using `ctx` and reads the server's byte.
  With `:verify-hostname? true` the socket asks for HTTPS endpoint identification, as the JDK
  HttpClient does. Returns `{:server-certs [..] :read b}` or `{:error e}`."
  ([ctx port] (connect ctx port {}))
  ([^SSLContext ctx port {:keys [host verify-hostname?]}]
   (try
     (with-open [^SSLSocket s (.createSocket (.getSocketFactory ctx) ^String (or host "127.0.0.1")
                                             (int port))]
       (.setSoTimeout s 5000)
       (when verify-hostname?
         (.setSSLParameters s (doto (.getSSLParameters s)
                                (.setEndpointIdentificationAlgorithm "HTTPS"))))
       (.startHandshake s)
       (let [certs (tls/peer-certificates (.getSession s))
             b (.read (.getInputStream s))]
         {:server-certs certs :read b}))
     (catch Exception e {:error e}))))
