(ns shoal.test.etcd
  "Test helpers for real etcd processes: a throwaway one-member etcd (plain http, or mTLS with
  `make-test-pki!`) on free loopback ports in a temp dir, always killed and deleted.

    (with-etcd [e {}]
      (:client-url e) ...)

  Independent of `shoal.hub.etcd` on purpose: the store's tests must not depend on the code
  that supervises etcd."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [shoal.test.util :as u])
  (:import (java.net URI)
           (java.net.http HttpClient HttpRequest HttpResponse$BodyHandlers)
           (java.time Duration)
           (java.util.concurrent TimeUnit)))

(def etcd-binary "/usr/bin/etcd")

(defn healthy?
  "True if GET `client-url`/health answers health true."
  [client-url]
  (let [c (-> (HttpClient/newBuilder) (.connectTimeout (Duration/ofSeconds 1)) .build)
        r (.send c (-> (HttpRequest/newBuilder (URI. (str client-url "/health")))
                       (.timeout (Duration/ofSeconds 2)) .build)
                 (HttpResponse$BodyHandlers/ofString))]
    (and (= 200 (.statusCode r)) (str/includes? (.body r) "true"))))

(defn- sh! [dir & args]
  (let [p (-> (ProcessBuilder. ^java.util.List (vec args))
              (.directory (io/file dir))
              (.redirectErrorStream true)
              (.start))
        out (slurp (.getInputStream p))]
    (when-not (zero? (.waitFor p))
      (throw (ex-info (str "command failed: " (str/join " " args) "\n" out) {})))
    out))

(defn make-test-pki!
  "Writes a throwaway CA and one node certificate (EC P-256, made by /usr/bin/openssl) into
  `dir`: ca.crt, node.crt, node.key (PEM, for etcd) and node.p12, trust.p12 (password
  \"password\", for the JVM). The node certificate names only `DNS:<node-name>`, never an
  address, as shoal's node certificates do. Returns the paths."
  [dir node-name]
  (sh! dir "openssl" "req" "-x509" "-newkey" "ec" "-pkeyopt" "ec_paramgen_curve:prime256v1"
       "-nodes" "-keyout" "ca.key" "-out" "ca.crt" "-days" "2" "-subj" "/CN=shoal-test-ca")
  (sh! dir "openssl" "req" "-newkey" "ec" "-pkeyopt" "ec_paramgen_curve:prime256v1" "-nodes"
       "-keyout" "node.key" "-out" "node.csr" "-subj" (str "/CN=" node-name))
  (spit (io/file dir "ext.cnf") (str "subjectAltName=DNS:" node-name "\n"
                                     "extendedKeyUsage=serverAuth,clientAuth\n"))
  (sh! dir "openssl" "x509" "-req" "-in" "node.csr" "-CA" "ca.crt" "-CAkey" "ca.key"
       "-CAcreateserial" "-out" "node.crt" "-days" "2" "-extfile" "ext.cnf")
  (sh! dir "openssl" "pkcs12" "-export" "-in" "node.crt" "-inkey" "node.key" "-out" "node.p12"
       "-passout" "pass:password" "-name" "node")
  (let [ks (java.security.KeyStore/getInstance "PKCS12")]
    (.load ks nil nil)
    (with-open [in (io/input-stream (io/file dir "ca.crt"))]
      (.setCertificateEntry ks "ca" (.generateCertificate
                                     (java.security.cert.CertificateFactory/getInstance "X.509") in)))
    (with-open [out (io/output-stream (io/file dir "trust.p12"))]
      (.store ks out (.toCharArray "password"))))
  (into {} (for [f ["ca.crt" "node.crt" "node.key" "node.p12" "trust.p12"]]
             [(keyword (str/replace f "." "-")) (str (io/file dir f))])))

(defn ssl-context
  "An SSLContext from the PKCS12 files of `make-test-pki!` (key store, trust store)."
  ^javax.net.ssl.SSLContext [key-p12 trust-p12]
  (let [load (fn [f] (doto (java.security.KeyStore/getInstance "PKCS12")
                       (.load (io/input-stream f) (.toCharArray "password"))))
        kmf (doto (javax.net.ssl.KeyManagerFactory/getInstance "PKIX")
              (.init (load key-p12) (.toCharArray "password")))
        tmf (doto (javax.net.ssl.TrustManagerFactory/getInstance "PKIX")
              (.init ^java.security.KeyStore (load trust-p12)))]
    (doto (javax.net.ssl.SSLContext/getInstance "TLS")
      (.init (.getKeyManagers kmf) (.getTrustManagers tmf) nil))))

(defn- launch ^Process [command log]
  (-> (ProcessBuilder. ^java.util.List command)
      (.redirectErrorStream true)
      (.redirectOutput (java.lang.ProcessBuilder$Redirect/appendTo (io/file log)))
      (.start)))

(defn start-etcd!
  "Starts a one-member etcd on free loopback ports in a temp dir and waits until healthy.
  Options: `:name`, `:tls` (a map from `make-test-pki!`: https with client certificates
  required; health is then not polled over TLS but by waiting for etcd's log line).
  Returns `{:process :client-url :peer-url :dir :log}`; stop it with `stop-etcd!`. Throws
  (after killing it) when it does not become healthy within 20 s."
  ([] (start-etcd! {}))
  ([{:keys [name tls] :or {name "t1"}}]
   (let [dir (u/temp-dir "shoal-etcd-test")
         cport (u/free-port)
         pport (u/free-port)
         scheme (if tls "https" "http")
         curl (str scheme "://127.0.0.1:" cport)
         purl (str "http://127.0.0.1:" pport)
         log (io/file dir "etcd.log")
         command (cond-> [etcd-binary "--name" name "--data-dir" (str (io/file dir "data"))
                          "--listen-client-urls" curl "--advertise-client-urls" curl
                          "--listen-peer-urls" purl "--initial-advertise-peer-urls" purl
                          "--initial-cluster" (str name "=" purl)
                          "--initial-cluster-token" (str "test-" cport)]
                   tls (into ["--cert-file" (:node-crt tls) "--key-file" (:node-key tls)
                              "--trusted-ca-file" (:ca-crt tls) "--client-cert-auth=true"]))
         p (launch command log)
         e {:process p :client-url curl :peer-url purl :dir dir :log log :command command}]
     (if (u/poll 20000 (if tls
                         #(str/includes? (slurp log) "ready to serve client requests")
                         #(healthy? curl)))
       e
       (let [tail (try (slurp log) (catch Exception _ ""))]
         (.destroyForcibly p)
         (u/delete-tree dir)
         (throw (ex-info (str "test etcd did not become healthy:\n" tail) {:client-url curl})))))))

(defn stop-etcd!
  "Kills the test etcd (SIGKILL: its data is thrown away) and deletes its dir."
  [{:keys [^Process process dir]}]
  (when process
    (.destroyForcibly process)
    (.waitFor process 10 TimeUnit/SECONDS))
  (when dir (u/delete-tree dir)))

(defn kill-and-restart!
  "SIGKILLs the test etcd and starts it again with the same command (same data, ports and
  member), waiting until it is healthy (plain http only). Returns the map with the new
  `:process`."
  [{:keys [^Process process command log client-url] :as e}]
  (.destroyForcibly process)
  (.waitFor process 10 TimeUnit/SECONDS)
  (let [p (launch command log)
        e (assoc e :process p)]
    (when-not (u/poll 20000 #(healthy? client-url))
      (throw (ex-info (str "test etcd did not come back:\n" (slurp log)) {:client-url client-url})))
    e))

(defmacro with-etcd
  "Runs body with `sym` bound to a started test etcd (see `start-etcd!`), always stopping it."
  [[sym opts] & body]
  `(let [~sym (start-etcd! ~opts)]
     (try ~@body
          (finally (stop-etcd! ~sym)))))
