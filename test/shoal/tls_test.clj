(ns ^:integration shoal.tls-test
  "Integration tests of shoal.tls with the :identity component: real handshakes between JDK
  sockets on loopback (who is accepted, who is refused, hot certificate swap), and Go's TLS stack
  (a real etcd process using the component's files, queried with java.net.http over mTLS)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [shoal.identity :as id]
            [shoal.identity.ca :as ca]
            [shoal.identity.file :as idf]
            [shoal.test.util :as u :refer [with-temp-dir]]
            [shoal.tls :as tls]
            [shoal.test.tls :as tt])
  (:import (java.net URI)
           (java.net.http HttpClient HttpRequest HttpResponse HttpResponse$BodyHandlers)
           (java.security.cert X509Certificate)
           (java.time Duration)
           (java.util.concurrent LinkedBlockingQueue TimeUnit)
           (javax.net.ssl SSLContext SSLServerSocket SSLSocket)))

;; ---------------------------------------------------------------------------------------------
;; Helpers

(defn- make-secrets! [dir]
  {:cluster (ca/create-ca! {:dir dir :kind :cluster})
   :operator (ca/create-ca! {:dir dir :kind :operator})
   :alice (ca/issue-operator-cert! {:dir dir :name "alice"})})

(defn- start-identity [secrets data-dir & {:as more}]
  (idf/start (merge {:data-dir (str data-dir)
                     :ca {:cert (-> secrets :cluster :cert) :key (-> secrets :cluster :key)
                          :operator-cert (-> secrets :operator :cert)}
                     :lifetime-ms 3600000}
                    more)
             {}))

(defn- source-of
  "A key source atom from a {:cert :key} pair of files."
  [{:keys [cert key]}]
  (atom {:key (id/read-key key) :cert (id/read-cert cert)}))

(defn- serve [ctx & [host]] (tt/serve ctx host))

(defn- connect
  "Connects asking for host name verification, as HttpClient does: shoal's trust manager
  ignores it."
  [ctx port & [host]]
  (tt/connect ctx port {:host host :verify-hostname? true}))

(defn- server-outcome
  "What the server saw of the next connection: {:ok [peer certs]} or {:error e}."
  [server]
  (.poll ^LinkedBlockingQueue (:results server) 5 TimeUnit/SECONDS))

;; ---------------------------------------------------------------------------------------------
;; JDK to JDK

(deftest server-context-requires-a-cluster-or-operator-client-certificate
  (with-temp-dir [tmp "shoal-tls"]
    (with-temp-dir [foreign-dir "shoal-foreign"]
      (let [secrets (make-secrets! (io/file tmp "secrets"))
            foreign (ca/create-ca! {:dir foreign-dir :kind :cluster})
            ca-cert (id/read-cert (-> secrets :cluster :cert))]
        (with-open [node (start-identity secrets (io/file tmp "a"))
                    peer (start-identity secrets (io/file tmp "b"))]
          (let [server (serve (id/server-ssl-context node))
                node-cert (:cert (id/current node))]
            (try
              (testing "accepted: another node's certificate"
                (let [r (connect (id/client-ssl-context peer) (:port server))
                      seen (server-outcome server)]
                  (is (= 1 (:read r)))
                  (is (= node-cert (first (:server-certs r))))
                  (is (= (:id peer) (id/node-id (first (:ok seen)))))
                  (is (= :node (id/peer-role (id/current node) (:ok seen))))
                  (is (contains? #{"TLSv1.3" "TLSv1.2"} (:protocol seen)))))
              (testing "accepted: an operator certificate"
                (let [r (connect (tls/ssl-context {:key-source (source-of (:alice secrets))
                                                   :trust [ca-cert]})
                                 (:port server))
                      seen (server-outcome server)]
                  (is (= 1 (:read r)))
                  (is (= "alice" (id/subject-cn (first (:ok seen)))))
                  (is (= :operator (id/peer-role (id/current node) (:ok seen))))))
              (testing "refused: no client certificate"
                (let [r (connect (tls/ssl-context {:trust [ca-cert]}) (:port server))
                      seen (server-outcome server)]
                  (is (some? (:error seen)))
                  (is (nil? (:ok seen)))
                  (is (not= 1 (:read r)))))
              (testing "refused: a client certificate from a foreign CA"
                (let [kp (id/generate-key-pair)
                      cert (id/issue-cert {:ca-cert (id/read-cert (:cert foreign))
                                           :ca-key (id/read-key (:key foreign))
                                           :public-key (.getPublic kp)
                                           :subject-cn (id/node-id (.getPublic kp))
                                           :lifetime-ms 3600000})
                      r (connect (tls/ssl-context {:key-source (atom {:key (.getPrivate kp)
                                                                      :cert cert})
                                                   :trust [ca-cert]})
                                 (:port server))
                      seen (server-outcome server)]
                  (is (some? (:error seen)))
                  (is (not= 1 (:read r)))))
              (testing "refused by the client: a server whose certificate is not from the cluster CA"
                (let [foreign-server (serve (tls/ssl-context
                                             {:key-source (source-of {:cert (:cert foreign)
                                                                      :key (:key foreign)})
                                              :trust [ca-cert]}))]
                  (try
                    (is (some? (:error (connect (id/client-ssl-context peer)
                                                (:port foreign-server)))))
                    (finally ((:close foreign-server))))))
              (finally ((:close server))))))))))

(deftest no-hostname-verification
  (with-temp-dir [tmp "shoal-tls"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))]
      (with-open [node (start-identity secrets (io/file tmp "a"))
                  peer (start-identity secrets (io/file tmp "b"))]
        ;; 127.0.0.2 is loopback on Linux but in no SAN of the certificate.
        (let [server (serve (id/server-ssl-context node) "127.0.0.2")]
          (try
            (is (not (id/covers-hosts? (:cert (id/current node)) ["127.0.0.2"])))
            (let [r (connect (id/client-ssl-context peer) (:port server) "127.0.0.2")]
              (is (= 1 (:read r)) (str (:error r)))
              (is (= (:id node) (id/node-id (first (:server-certs r))))
                  "the peer is identified by its node id, not its address"))
            (finally ((:close server)))))))))

(deftest operator-certificates-cannot-serve
  (with-temp-dir [tmp "shoal-tls"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))
          op-ca (id/read-cert (-> secrets :operator :cert))
          ;; A server presenting alice's clientAuth-only certificate, to a client that even trusts
          ;; the operator CA: the JDK's validator must insist on serverAuth.
          server (serve (tls/ssl-context {:key-source (source-of (:alice secrets))
                                          :trust [op-ca]}))]
      (try
        (is (some? (:error (connect (tls/ssl-context {:key-source (source-of (:alice secrets))
                                                      :trust [op-ca]})
                                    (:port server)))))
        (finally ((:close server)))))))

(deftest key-manager-reads-its-source-at-each-handshake
  (with-temp-dir [tmp "shoal-tls"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))
          ca-cert (id/read-cert (-> secrets :cluster :cert))
          ca-key (id/read-key (-> secrets :cluster :key))
          kp (id/generate-key-pair)
          issue #(id/issue-cert {:ca-cert ca-cert :ca-key ca-key :public-key (.getPublic kp)
                                 :subject-cn % :lifetime-ms 3600000})
          source (atom {:key (.getPrivate kp) :cert (issue "one")})
          server (serve (tls/ssl-context {:key-source source
                                          :trust [ca-cert (id/read-cert (-> secrets :operator :cert))]
                                          :need-client-auth? true}))
          client #(tls/ssl-context {:key-source (source-of (:alice secrets)) :trust [ca-cert]})]
      (try
        (is (= "one" (id/subject-cn (first (:server-certs (connect (client) (:port server)))))))
        (swap! source assoc :cert (issue "two"))
        (is (= "two" (id/subject-cn (first (:server-certs (connect (client) (:port server)))))))
        (testing "the server socket follows shoal's policy"
          (let [^SSLServerSocket ss (:socket server)]
            (is (.getNeedClientAuth ss))
            (is (= #{"TLSv1.3" "TLSv1.2"} (set (.getEnabledProtocols ss))))))
        (testing "TLS 1.1 is not spoken"
          (let [ctx (doto (SSLContext/getInstance "TLS")
                      (.init nil (into-array javax.net.ssl.TrustManager
                                             [(tls/trust-manager [ca-cert])])
                             nil))
                r (try (with-open [^SSLSocket s (.createSocket (.getSocketFactory ctx)
                                                               "127.0.0.1" (int (:port server)))]
                         (.setEnabledProtocols s (into-array String ["TLSv1.1"]))
                         (.startHandshake s)
                         :connected)
                       (catch Exception e e))]
            (is (instance? Exception r))))
        (finally ((:close server)))))))

(deftest fingerprints-match-openssl
  (with-temp-dir [tmp "shoal-tls"]
    (let [made (ca/create-ca! {:dir (io/file tmp "s") :kind :cluster})
          p (.start (ProcessBuilder. ["openssl" "x509" "-in" (:cert made) "-noout"
                                      "-fingerprint" "-sha256"]))
          out (slurp (.getInputStream p))]
      (.waitFor p)
      (is (= (str/lower-case (str/replace (second (str/split (str/trim out) #"=")) ":" ""))
             (tls/cert-fingerprint (id/read-cert (:cert made))))))))

;; ---------------------------------------------------------------------------------------------
;; Go's TLS: etcd with the component's files

(defn- start-etcd
  "Starts /usr/bin/etcd on two free loopback ports with mTLS on both its client and peer URLs,
  using the identity files. Returns {:process :client-url :log}."
  [files dir]
  (let [cport (u/free-port)
        pport (u/free-port)
        curl (str "https://127.0.0.1:" cport)
        purl (str "https://127.0.0.1:" pport)
        log (io/file dir "etcd.log")
        cmd ["/usr/bin/etcd" "--name" "t1" "--data-dir" (str (io/file dir "etcd"))
             "--listen-client-urls" curl "--advertise-client-urls" curl
             "--listen-peer-urls" purl "--initial-advertise-peer-urls" purl
             "--initial-cluster" (str "t1=" purl) "--initial-cluster-state" "new"
             "--cert-file" (:cert files) "--key-file" (:key files)
             "--trusted-ca-file" (:ca files) "--client-cert-auth"
             "--peer-cert-file" (:cert files) "--peer-key-file" (:key files)
             "--peer-trusted-ca-file" (:ca files) "--peer-client-cert-auth"]
        p (-> (ProcessBuilder. ^java.util.List cmd)
              (.redirectErrorStream true)
              (.redirectOutput log)
              .start)]
    {:process p :client-url curl :log log}))

(defn- stop-etcd [{:keys [^Process process]}]
  (when process
    (.destroy process)
    (when-not (.waitFor process 5 TimeUnit/SECONDS)
      (.destroyForcibly process)
      (.waitFor process 5 TimeUnit/SECONDS))))

(defn- health
  "GET <url>/health with a fresh HttpClient over ctx: {:status :body :server-cert} or {:error e}."
  [^SSLContext ctx url]
  (try
    (let [client (-> (HttpClient/newBuilder)
                     (.sslContext ctx)
                     (.connectTimeout (Duration/ofSeconds 2))
                     .build)
          resp (.send client (-> (HttpRequest/newBuilder (URI. (str url "/health")))
                                 (.timeout (Duration/ofSeconds 5))
                                 .build)
                      (HttpResponse$BodyHandlers/ofString))]
      {:status (.statusCode resp) :body (.body resp)
       :server-cert (some-> ^java.util.Optional (.sslSession resp) (.orElse nil)
                            tls/peer-certificates first)})
    (catch Exception e {:error e})))

(defn- wait-healthy [ctx url timeout-ms]
  (let [deadline (+ (System/currentTimeMillis) timeout-ms)]
    (loop []
      (let [r (health ctx url)]
        (if (or (= 200 (:status r)) (> (System/currentTimeMillis) deadline))
          r
          (do (Thread/sleep 200) (recur)))))))

(deftest etcd-accepts-the-node-certificate
  (with-temp-dir [tmp "shoal-etcd"]
    (let [secrets (make-secrets! (io/file tmp "secrets"))]
      (with-open [node (start-identity secrets (io/file tmp "data") :hosts ["etcd.test"])]
        (let [etcd (start-etcd (:files (id/current node)) tmp)]
          (try
            (let [r (wait-healthy (id/client-ssl-context node) (:client-url etcd) 20000)]
              (is (= 200 (:status r)) (str r "\n" (slurp (:log etcd))))
              (is (re-find #"\"health\"\s*:\s*\"true\"" (str (:body r))))
              (is (= (:cert (id/current node)) (:server-cert r))
                  "etcd serves the node certificate"))
            (testing "a client without a certificate is refused by etcd"
              (is (not= 200 (:status (health (tls/ssl-context {:trust [(:ca-cert (id/current node))]})
                                             (:client-url etcd))))))
            (testing "after renewal etcd picks the new files up, without restart"
              ;; A fresh context: the node's own would resume its TLS session with etcd, and a
              ;; resumed handshake carries no certificate to look at.
              (let [renewed (:cert (id/renew! node))
                    r (health (tls/ssl-context {:key-source (:state node)
                                                :trust [(:ca-cert (id/current node))]})
                              (:client-url etcd))]
                (is (= 200 (:status r)))
                (is (= renewed (:server-cert r)))))
            (finally (stop-etcd etcd))))))))
