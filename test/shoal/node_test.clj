(ns ^:integration shoal.node-test
  "A whole node against a real etcd, real TLS and real processes: origin, restart, refusal of
  unauthenticated clients, etcd killed and restarted, rollback of a failed start, certificate
  renewal while running, SIGTERM, and a bad config."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [shoal.events :as events]
            [shoal.membership :as membership]
            [shoal.node :as node]
            [shoal.system :as sys]
            [shoal.test.node :as tn :refer [*secrets*]]
            [shoal.test.util :as u])
  (:import (java.net ServerSocket InetAddress Socket)))

(use-fixtures :once tn/secrets-fixture)

(defn- event-types [system]
  (map :type (events/recent (sys/component system :events) 100)))

(defn- etcd-pid [system]
  (get-in (membership/status (sys/component system :membership)) [:etcd :pid]))

(defn- port-open? [port]
  (try (with-open [_ (Socket. "127.0.0.1" (int port))] true) (catch Exception _ false)))

(deftest originates-a-one-node-cluster-and-comes-back-to-it
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port]} (tn/write-node-edn! dir *secrets* {:labels {:zone "test"}})
          s1 (node/start path)
          st1 (tn/wait-for "a healthy one-node cluster" 30000 #(let [s (tn/status *secrets* api-port)]
                                                                 (when (tn/healthy? s) s)))]
      (try
        (testing "status over mTLS shows the cluster, this node as hub, its facts"
          (is (string? (:cluster-id st1)))
          (is (= ["hub"] (:roles st1)))
          (let [[m] (:members st1)]
            (is (= (:node-id st1) (:id m)))
            (is (= ["hub"] (:roles m)))
            (is (pos? (get-in m [:facts :cpus])))
            (is (pos? (get-in m [:facts :memory-bytes])))
            (is (pos? (get-in m [:facts :disk-free-bytes])))
            (is (= {:zone "test"} (get-in m [:facts :labels])))
            (is (= (str "127.0.0.1:" api-port) (get-in m [:addresses :api]))))
          (is (true? (get-in st1 [:etcd :healthy])))
          (is (= 1 (count (get-in st1 [:etcd :members])))))
        (is (some #{:shoal/originated} (event-types s1)))
        (finally (sys/stop s1)))
      (testing "a restart reuses identity and etcd data: same node id, same cluster id"
        (let [s2 (node/start path)]
          (try
            (let [st2 (tn/wait-for "healthy after restart" 30000
                                   #(let [s (tn/status *secrets* api-port)] (when (tn/healthy? s) s)))]
              (is (= (:node-id st1) (:node-id st2)))
              (is (= (:cluster-id st1) (:cluster-id st2)))
              (is (= (get-in st1 [:etcd :cluster-id]) (get-in st2 [:etcd :cluster-id])))
              (is (some #{:shoal/returned} (event-types s2)))
              (is (not (some #{:shoal/originated} (event-types s2)))))
            (finally (sys/stop s2))))))))

(deftest api-requires-a-client-certificate-from-a-known-ca
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port]} (tn/write-node-edn! dir *secrets* {})
          foreign (tn/make-secrets! (str dir "/foreign"))
          url (str "https://127.0.0.1:" api-port "/v1/status")
          s (node/start path)]
      (try
        (tn/wait-for "api up" 30000 #(tn/status *secrets* api-port))
        (testing "no client certificate: refused in the handshake"
          (is (thrown? java.io.IOException
                       (tn/get-json (tn/client-context {:ca-file (str *secrets* "/cluster-ca.crt")}) url))))
        (testing "a certificate from a foreign operator CA: refused"
          (is (thrown? java.io.IOException
                       (tn/get-json (tn/client-context {:cert-file (str foreign "/operator-tester.crt")
                                                        :key-file (str foreign "/operator-tester.key")
                                                        :ca-file (str *secrets* "/cluster-ca.crt")})
                                    url))))
        (testing "a certificate from a foreign cluster CA: refused"
          (let [fdir (str dir "/foreign-node")]
            (u/delete-tree fdir)
            (let [id (sys/start {:identity {:impl :file :data-dir fdir :lifetime-ms 3600000 :hosts []
                                            :ca {:cert (str foreign "/cluster-ca.crt")
                                                 :key (str foreign "/cluster-ca.key")}}})]
              (try
                (is (thrown? java.io.IOException
                             (tn/get-json (tn/client-context {:cert-file (str fdir "/identity/node.crt")
                                                              :key-file (str fdir "/identity/node.key")
                                                              :ca-file (str *secrets* "/cluster-ca.crt")})
                                          url)))
                (finally (sys/stop id))))))
        (testing "the operator certificate and a node certificate of this cluster: accepted"
          (is (= 200 (:status (tn/get-json (tn/operator-context *secrets*) url))))
          (is (= 200 (:status (tn/get-json (tn/client-context
                                            {:cert-file (str dir "/data/identity/node.crt")
                                             :key-file (str dir "/data/identity/node.key")
                                             :ca-file (str *secrets* "/cluster-ca.crt")})
                                           url)))))
        (finally (sys/stop s))))))

(deftest etcd-killed-is-restarted-by-the-node
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port]} (tn/write-node-edn! dir *secrets* {})
          s (node/start path)]
      (try
        (let [st (tn/wait-for "healthy" 30000 #(let [s (tn/status *secrets* api-port)] (when (tn/healthy? s) s)))
              pid (etcd-pid s)]
          (is (pos-int? pid))
          (.destroyForcibly (.get (java.lang.ProcessHandle/of pid)))
          (let [st2 (tn/wait-for "etcd restarted and healthy" 30000
                                 #(let [x (tn/status *secrets* api-port)]
                                    (when (and (tn/healthy? x) (pos? (get-in x [:etcd :restarts] 0))
                                               (not= pid (get-in x [:etcd :pid])))
                                      x)))]
            (is (= (:cluster-id st) (:cluster-id st2)))
            (is (= (get-in st [:etcd :cluster-id]) (get-in st2 [:etcd :cluster-id])))
            (is (some? (get-in st2 [:etcd :last-exit]))))
          (tn/wait-for "the restart recorded as an event" 10000
                       #(some #{:shoal/etcd-restarted} (event-types s))))
        (finally (sys/stop s))))))

(deftest a-failed-start-rolls-back-etcd-and-says-which-component
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port etcd-client-port]} (tn/write-node-edn! dir *secrets* {})]
      (with-open [_squatter (ServerSocket. api-port 1 (InetAddress/getByName "127.0.0.1"))]
        (let [ex (try (node/start path) nil (catch clojure.lang.ExceptionInfo e e))]
          (is (= :shoal.system/start-failed (:type (ex-data ex))))
          (is (= :api (:component (ex-data ex))))
          (is (re-find #"component :api \(impl :https\) failed to start" (ex-message ex)))
          (is (= [:membership :identity :facts :events] (:stopped (ex-data ex))))
          (testing "etcd, started by membership, was stopped again"
            (is (not (port-open? etcd-client-port)))))))))

(deftest certificate-renewed-while-running-keeps-api-and-etcd-working
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port]} (tn/write-node-edn! dir *secrets* {:cert {:lifetime "8s"}})
          s (node/start path)
          url (str "https://127.0.0.1:" api-port "/v1/status")]
      (try
        (let [first-cert (:peer-cert (tn/wait-for "api up" 30000 #(tn/get-json (tn/operator-context *secrets*) url)))
              renewed (tn/wait-for "a renewed certificate served by the same server" 15000
                                   #(let [c (:peer-cert (tn/get-json (tn/operator-context *secrets*) url))]
                                      (when (not= (.getSerialNumber c) (.getSerialNumber first-cert)) c)))]
          (is (= (.getPublicKey first-cert) (.getPublicKey renewed)) "same key, so same node id")
          (testing "past the first certificate's expiry, etcd and the API still work"
            (tn/wait-for "first certificate expired" 15000
                         #(> (System/currentTimeMillis) (+ 1000 (.getTime (.getNotAfter first-cert)))))
            (is (tn/healthy? (tn/wait-for "healthy after expiry" 15000
                                          #(let [x (tn/status *secrets* api-port)] (when (tn/healthy? x) x)))))))
        (finally (sys/stop s))))))

(defn- node-process [path]
  (-> (ProcessBuilder. ["java" "-XX:TieredStopAtLevel=1" "-cp" (System/getProperty "java.class.path")
                        "clojure.main" "-m" "shoal.node" path])
      (.redirectErrorStream true)
      (.redirectOutput (io/file (str path ".log")))
      .start))

(deftest sigterm-leaves-gracefully-and-exits-zero
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port edn]} (tn/write-node-edn! dir *secrets* {})
          p (node-process path)]
      (try
        (let [st (tn/wait-for "node process healthy" 60000
                              #(let [x (tn/status *secrets* api-port)] (when (tn/healthy? x) x)))
              etcd (get-in st [:etcd :pid])]
          (.destroy p)                                      ; SIGTERM
          (is (.waitFor p 30 java.util.concurrent.TimeUnit/SECONDS))
          (is (= 0 (.exitValue p)) (slurp (str path ".log")))
          (is (not (.isPresent (java.lang.ProcessHandle/of etcd))) "etcd stopped with the node")
          (let [evs (->> (str/split-lines (slurp (io/file (:data-dir edn) "events.edn")))
                         (map edn/read-string))]
            (is (= :shoal/left (:type (last evs))))))
        (finally (.destroyForcibly p))))))

(deftest a-bad-node-edn-exits-2-with-the-reason
  (u/with-temp-dir [dir "shoal-node"]
    (let [path (str dir "/node.edn")]
      (spit path (pr-str {:data-dir (str dir "/data") :lease {:ttl 10}
                          :ca {:cert "x" :key "y"}}))
      (let [p (node-process path)]
        (is (.waitFor p 60 java.util.concurrent.TimeUnit/SECONDS))
        (is (= 2 (.exitValue p)))
        (is (re-find #"node.edn \[:lease :ttl\]: must be a duration" (slurp (str path ".log"))))))))

(deftest a-cluster-repo-namespace-supplies-a-component
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port]} (tn/write-node-edn! dir *secrets*
                                                      {:cluster-repo {:path "test/resources/cluster-repo"}
                                                       :system {:facts {:impl 'acme.hooks/facts}}})
          s (node/start path)]
      (try
        (let [st (tn/wait-for "healthy" 30000 #(let [x (tn/status *secrets* api-port)] (when (tn/healthy? x) x)))]
          (is (= "r-42" (get-in st [:members 0 :facts :labels :rack])))
          (is (= "acme" (get-in st [:cluster :name])) "the cluster's name comes from its cluster.edn"))
        (finally (sys/stop s))))))

(deftest a-missing-cluster-namespace-is-a-clear-error
  (u/with-temp-dir [dir "shoal-node"]
    (let [repo (str dir "/repo")]
      (io/make-parents (str repo "/cluster.edn"))
      (spit (str repo "/cluster.edn") (pr-str {:name "x" :namespaces ['nope.missing]}))
      (let [{:keys [path]} (tn/write-node-edn! dir *secrets* {:cluster-repo {:path repo}})
            ex (try (node/start path) nil (catch clojure.lang.ExceptionInfo e e))]
        (is (= :shoal.node/namespace-failed (:type (ex-data ex))))
        (is (re-find #"^cluster.edn \[:namespaces\]: cannot load nope.missing" (ex-message ex)))))))

(deftest half-open-connections-do-not-wedge-the-api
  (u/with-temp-dir [dir "shoal-node"]
    (let [{:keys [path api-port]} (tn/write-node-edn! (str dir) *secrets* {})
          s (node/start path)
          squatters (atom [])]
      (try
        (tn/wait-for "api up" 30000 #(tn/status *secrets* api-port))
        ;; more connections than the API has workers, each stuck in the middle of a handshake
        (dotimes [_ 24]
          (let [sock (Socket. "127.0.0.1" (int api-port))]
            (.write (.getOutputStream sock) (byte-array [22 3 1]))
            (.flush (.getOutputStream sock))
            (swap! squatters conj sock)))
        (is (= 200 (:status (tn/wait-for "an answer despite the stuck connections" 30000
                                         #(tn/get-json (tn/operator-context *secrets*)
                                                       (str "https://127.0.0.1:" api-port "/v1/status"))))))
        (finally
          (doseq [^Socket x @squatters] (.close x))
          (sys/stop s))))))
