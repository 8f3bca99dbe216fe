(ns shoal.api.https
  "Serves `shoal.api` over HTTPS with mutual TLS, using the JDK's own HTTPS server.

  Every connection must present a client certificate signed by the cluster CA (nodes) or the
  operator CA (operators): the TLS handshake itself refuses anything else, so no route ever sees
  an unauthenticated request. The identity's SSLContext reads the node certificate at each
  handshake, so a renewed certificate is served without restarting the server."
  (:require [clojure.data.json :as json]
            [clojure.tools.logging :as log]
            [shoal.api :as api]
            [shoal.identity :as identity])
  (:import (com.sun.net.httpserver HttpExchange HttpHandler HttpsConfigurator HttpsExchange
                                   HttpsParameters HttpsServer)
           (java.net InetSocketAddress)
           (java.security.cert X509Certificate)
           (java.util.concurrent ExecutorService RejectedExecutionHandler SynchronousQueue
                                 ThreadFactory ThreadPoolExecutor TimeUnit)))

(defn- client-of
  "Who is calling: the subject of the peer's certificate."
  [^HttpsExchange ex]
  (try (let [^X509Certificate c (first (.getPeerCertificates (.getSSLSession ex)))]
         {:subject (str (.getSubjectX500Principal c))
          :issuer (str (.getIssuerX500Principal c))})
       (catch Exception _ nil)))

(defn- respond [^HttpExchange ex status body]
  (let [bytes (.getBytes (json/write-str body) "UTF-8")]
    (.add (.getResponseHeaders ex) "Content-Type" "application/json")
    (.sendResponseHeaders ex status (alength bytes))
    (with-open [out (.getResponseBody ex)]
      (.write out bytes))))

(defn- handler [deps]
  (reify HttpHandler
    (handle [_ ex]
      (try
        (let [req {:method (keyword (.toLowerCase (.getRequestMethod ex)))
                   :path (.getPath (.getRequestURI ex))
                   :client (client-of ex)}
              {:keys [status body]} (api/handle deps req)]
          (log/debug "api" (name (:method req)) (:path req) status (:client req))
          (respond ex status body))
        (catch Throwable t
          (log/warn t "api request failed")
          (try (respond ex 500 {:error "internal" :message (str (ex-message t))})
               (catch Throwable _ nil)))
        (finally (.close ex))))))

(defn- daemon-threads [prefix]
  (let [n (atom 0)]
    (reify ThreadFactory
      (newThread [_ r]
        (doto (Thread. ^Runnable r (str prefix "-" (swap! n inc))) (.setDaemon true))))))

(def ^:private max-workers 256)

(defn- workers
  "The API's threads. The JDK server does its TLS handshakes on them and sets no timeout on a
  handshake that never completes (checked: `sun.net.httpserver.maxReqTime` does not cover it),
  so a fixed handful of workers could be held by as many half-open connections, hiding the node
  from its peers' probes. Threads are made as connections need them, up to `max-workers`;
  beyond that a connection is dropped with a warning rather than queued behind stuck ones."
  ^ExecutorService []
  (ThreadPoolExecutor. 2 (int max-workers) 60 TimeUnit/SECONDS (SynchronousQueue.)
                       ^ThreadFactory (daemon-threads "shoal-api")
                       (reify RejectedExecutionHandler
                         (rejectedExecution [_ _ _]
                           (log/warn "api: all" max-workers "workers busy; dropping a connection")))))

(defrecord Server [^HttpsServer server executor port]
  java.io.Closeable
  (close [_]
    (.stop server 0)
    (.shutdownNow ^java.util.concurrent.ExecutorService executor)))

(defn start
  "Component start. Opts: `{:listen {:host h :port p}}` (port 0 picks a free one; the record's
  `:port` tells which). Deps: `:identity`, `:membership`, `:events`."
  [{:keys [listen]} deps]
  (let [^javax.net.ssl.SSLContext ctx (identity/server-ssl-context (:identity deps))
        server (HttpsServer/create (InetSocketAddress. ^String (:host listen) (int (:port listen))) 64)
        executor (workers)]
    (.setHttpsConfigurator server
                           (proxy [HttpsConfigurator] [ctx]
                             (configure [^HttpsParameters params]
                               (let [^javax.net.ssl.SSLParameters p (.getDefaultSSLParameters ctx)]
                                 (.setNeedClientAuth p true)
                                 (.setSSLParameters params p)))))
    (.createContext server "/" (handler deps))
    (.setExecutor server executor)
    (.start server)
    (let [port (.getPort (.getAddress server))]
      (log/info "api listening on" (str (:host listen) ":" port) "(mTLS)")
      (->Server server executor port))))
