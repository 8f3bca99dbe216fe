(ns shoal.test.node
  "Helpers for tests that run real nodes: fresh CAs (and a `:once` fixture sharing them as
  `*secrets*`), node.edn files on free loopback ports, an mTLS HTTPS client, and waiting for a
  condition with a deadline that fails loudly (tests wait for conditions, they never assert how
  long something took). Ports, temp dirs and plain polling are in `shoal.test.util`."
  (:require [clojure.data.json :as json]
            [clojure.java.io :as io]
            [shoal.identity :as identity]
            [shoal.identity.ca :as ca]
            [shoal.test.util :as u]
            [shoal.tls :as tls])
  (:import (java.net URI)
           (java.net.http HttpClient HttpRequest HttpResponse$BodyHandlers)
           (java.time Duration)))

(defn make-secrets!
  "Creates a cluster CA, an operator CA and an operator certificate `tester` in `dir`."
  [dir]
  (ca/create-ca! {:dir dir :kind :cluster :name "test cluster CA" :lifetime-days 30})
  (ca/create-ca! {:dir dir :kind :operator :name "test operator CA" :lifetime-days 30})
  (ca/issue-operator-cert! {:dir dir :name "tester" :lifetime-days 30})
  dir)

(def ^:dynamic *secrets*
  "The secrets directory (a path string, see `make-secrets!`) of the test namespace being run,
  bound by `secrets-fixture`."
  nil)

(defn secrets-fixture
  "A clojure.test `:once` fixture: makes fresh secrets in a temp dir, binds `*secrets*` to them
  while the namespace's tests run, then deletes them.

    (use-fixtures :once tn/secrets-fixture)"
  [f]
  (u/with-temp-dir [dir "shoal-secrets"]
    (binding [*secrets* (make-secrets! (str dir "/s"))]
      (f))))

(defn write-node-edn!
  "Writes a node.edn for a node in `dir` on free loopback ports; returns `{:path :api-port ...}`.
  `extra` is merged into the EDN map."
  [dir secrets extra]
  (let [api (u/free-port) client (u/free-port) peer (u/free-port)
        edn (merge {:data-dir (str (io/file dir "data"))
                    :advertise "127.0.0.1"
                    :listen {:api (str "127.0.0.1:" api)
                             :etcd-client (str "127.0.0.1:" client)
                             :etcd-peer (str "127.0.0.1:" peer)}
                    :lease {:ttl "3s"}
                    :ca {:cert (str (io/file secrets "cluster-ca.crt"))
                         :key (str (io/file secrets "cluster-ca.key"))
                         :operator-cert (str (io/file secrets "operator-ca.crt"))}}
                   extra)
        path (str (io/file dir "node.edn"))]
    (io/make-parents path)
    (spit path (pr-str edn))
    {:path path :api-port api :etcd-client-port client :etcd-peer-port peer :edn edn}))

(defn client-context
  "An SSLContext presenting the certificate in `cert-file`/`key-file` (or none, when nil) and
  trusting the CA in `ca-file`."
  [{:keys [cert-file key-file ca-file]}]
  (tls/ssl-context {:key-source (when cert-file
                                  (atom {:key (identity/read-private-key key-file)
                                         :cert (identity/read-cert cert-file)}))
                    :trust [(identity/read-cert ca-file)]}))

(defn operator-context [secrets]
  (client-context {:cert-file (str (io/file secrets "operator-tester.crt"))
                   :key-file (str (io/file secrets "operator-tester.key"))
                   :ca-file (str (io/file secrets "cluster-ca.crt"))}))

(defn get-json
  "GETs `url` with a fresh HttpClient (so each call is a new TLS handshake) using `ctx`.
  Returns `{:status n :body data :peer-cert X509Certificate}`; throws IOException when the
  handshake is refused."
  [ctx url]
  (let [params (doto (.getDefaultSSLParameters ctx) (.setEndpointIdentificationAlgorithm nil))
        client (-> (HttpClient/newBuilder) (.sslContext ctx) (.sslParameters params)
                   (.connectTimeout (Duration/ofSeconds 3)) .build)
        resp (.send client (-> (HttpRequest/newBuilder (URI. url)) (.timeout (Duration/ofSeconds 5)) .build)
                    (HttpResponse$BodyHandlers/ofString))]
    {:status (.statusCode resp)
     :body (json/read-str (.body resp) :key-fn keyword)
     :peer-cert (some-> (.orElse (.sslSession resp) nil) .getPeerCertificates first)}))

(defn status
  "The node's /v1/status body as seen by the operator, or nil when it does not answer."
  [secrets api-port]
  (try (:body (get-json (operator-context secrets) (str "https://127.0.0.1:" api-port "/v1/status")))
       (catch Exception _ nil)))

(defn wait-for
  "Polls `f` every 100 ms until it returns truthy and returns that; after `timeout-ms` throws
  with `what` and the last value seen. An exception from `f` is seen as `{:exception message}`
  and counts as falsy."
  [what timeout-ms f]
  (let [seen (volatile! [nil nil])
        v (u/poll timeout-ms 100
                  #(let [v (try (f) (catch Exception e {:exception (ex-message e)}))]
                     (vswap! seen (fn [[_ latest]] [latest v]))
                     (when-not (:exception v) v)))]
    (or v
        (let [[last-v v] @seen]
          (throw (ex-info (str "timed out waiting for " what) {:last last-v :value v}))))))

(defn healthy?
  "A status showing a healthy one-node cluster."
  [s]
  (and s (:cluster-id s) (get-in s [:etcd :healthy]) (= 1 (count (:members s)))))
