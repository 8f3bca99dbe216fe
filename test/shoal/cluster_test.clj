(ns ^:integration shoal.cluster-test
  "Several whole nodes in one JVM on loopback, each with its own ports, data dir and real etcd
  child, finding each other through real discovery sources (a `:url` source served by a test
  HTTP server whose body the test rewrites, which is how a partition of discovery is made and
  healed). The Docker end-to-end tests run the same scenarios with node containers."
  (:require [clojure.data.json :as json]
            [clojure.java.io :as io]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [shoal.events :as events]
            [shoal.identity]
            [shoal.node :as node]
            [shoal.system :as sys]
            [shoal.test.node :as tn :refer [*secrets*]]
            [shoal.test.util :as u])
  (:import (com.sun.net.httpserver HttpHandler HttpServer)
           (java.net InetSocketAddress)))

(use-fixtures :once tn/secrets-fixture)

(defn- peers-server
  "An HTTP server on loopback serving `@body` at /peers.edn; returns [server url]."
  [body]
  (let [s (HttpServer/create (InetSocketAddress. "127.0.0.1" 0) 8)]
    (.createContext s "/peers.edn"
                    (reify HttpHandler
                      (handle [_ ex]
                        (let [b (.getBytes ^String @body "UTF-8")]
                          (.sendResponseHeaders ex 200 (alength b))
                          (with-open [o (.getResponseBody ex)] (.write o b))))))
    (.start s)
    [s (str "http://127.0.0.1:" (.getPort (.getAddress s)) "/peers.edn")]))

(defn- node-spec [dir i url]
  (tn/write-node-edn! (str dir "/n" i) *secrets*
                      {:name (str "n" i)
                       :discovery {:sources [{:type :url :url url}] :timeout "1s"
                                   :stable-for "1500ms" :contacts 1}}))

(defn- status [spec] (tn/status *secrets* (:api-port spec)))

(defn- members [spec] (set (map :id (:members (status spec)))))

(defn- cluster-of [spec] (:cluster-id (status spec)))

(defn- addr [spec] (str "127.0.0.1:" (:api-port spec)))

(defn- start-all
  "Starts the nodes at once (in parallel), returns their systems in order."
  [specs]
  (mapv deref (mapv #(future (node/start (:path %))) specs)))

(defn- stop-all [systems]
  (doseq [s systems :when s] (try (sys/stop s) (catch Exception _ nil))))

(defn- wait-one-cluster
  "Waits until every spec reports the same cluster id and lists exactly `ids` members."
  [specs n]
  (tn/wait-for (str n " nodes in one cluster") 60000
               #(let [sts (map status specs)]
                  (when (and (every? :cluster-id sts)
                             (apply = (map :cluster-id sts))
                             (every? (fn [s] (= n (count (:members s)))) sts))
                    sts))))

(defn- event-types [system]
  (set (map :type (events/recent (sys/component system :events) 200))))

(deftest nodes-started-at-once-form-exactly-one-cluster-and-a-later-one-joins
  (let [dir (u/temp-dir "shoal-cluster")
        body (atom "[]")
        [server url] (peers-server body)
        specs (mapv #(node-spec dir % url) (range 1 5))
        systems (atom [])]
    (try
      (reset! body (pr-str (mapv addr (take 3 specs))))
      (swap! systems into (start-all (take 3 specs)))
      (let [sts (wait-one-cluster (take 3 specs) 3)]
        (testing "one originated, the others joined; one hub"
          (is (= 1 (count (filter #(contains? (event-types %) :shoal/originated) @systems))))
          (is (= 2 (count (filter #(contains? (event-types %) :shoal/joined) @systems))))
          (is (= 1 (count (filter #(= ["hub"] (:roles %)) (:members (first sts))))))
          (is (= (set (map :node-id sts)) (set (map :id (:members (first sts))))))))
      (testing "a node started later joins and is listed by all"
        (reset! body (pr-str (mapv addr specs)))
        (swap! systems conj (node/start (:path (nth specs 3))))
        (wait-one-cluster specs 4)
        (is (contains? (event-types (last @systems)) :shoal/joined)))
      (testing "a graceful leave is seen by every other node at once (lease revoked)"
        (let [gone (:node-id (status (nth specs 3)))]
          (sys/stop (nth @systems 3))
          (swap! systems assoc 3 nil)
          (tn/wait-for "the leaver gone from every status" 5000
                       #(every? (fn [s] (not (contains? (members s) gone))) (take 3 specs)))))
      (finally
        (stop-all @systems)
        (.stop ^HttpServer server 0)
        (u/delete-tree dir)))))

(deftest two-clusters-formed-apart-merge-when-discovery-reconnects
  (let [dir (u/temp-dir "shoal-merge")
        body-a (atom "[]") body-b (atom "[]")
        [sa url-a] (peers-server body-a)
        [sb url-b] (peers-server body-b)
        a (mapv #(node-spec dir % url-a) [1 2])
        b [(node-spec dir 3 url-b)]
        systems (atom [])]
    (try
      (reset! body-a (pr-str (mapv addr a)))
      (reset! body-b (pr-str (mapv addr b)))
      ;; The smaller cluster is made first, so it is the older: only the size may decide, and
      ;; the heal comes right after the second node joined the bigger one (a size cached at
      ;; join time once made the bigger cluster dissolve into the older, smaller one).
      (swap! systems into (start-all b))
      (wait-one-cluster b 1)
      (swap! systems (fn [bs] (into (start-all a) bs)))
      (wait-one-cluster a 2)
      (let [big (cluster-of (first a)) small (cluster-of (first b))]
        (is (not= big small) "formed apart: two clusters")
        (testing "healed: both sides see everyone; the smaller cluster dissolves into the bigger"
          (let [all (pr-str (mapv addr (concat a b)))]
            (reset! body-a all)
            (reset! body-b all))
          (wait-one-cluster (concat a b) 3)
          (is (= big (cluster-of (first b))))
          (is (contains? (event-types (nth @systems 2)) :shoal/dissolved))
          (testing "the dissolved hub stopped its etcd: one hub left"
            (is (= 1 (count (filter #(= ["hub"] (:roles %)) (:members (status (first a))))))))))
      (finally
        (stop-all @systems)
        (.stop ^HttpServer sa 0) (.stop ^HttpServer sb 0)
        (u/delete-tree dir)))))

(deftest a-killed-node-disappears-when-its-lease-expires
  (let [dir (u/temp-dir "shoal-kill")
        body (atom "[]")
        [server url] (peers-server body)
        [s1 s2] (mapv #(node-spec dir % url) [1 2])
        system (atom nil)
        p (atom nil)]
    (try
      (reset! body (pr-str (mapv addr [s1 s2])))
      (reset! system (node/start (:path s1)))
      (tn/wait-for "first node healthy" 30000 #(tn/healthy? (status s1)))
      (reset! p (-> (ProcessBuilder. ["java" "-XX:TieredStopAtLevel=1" "-cp" (System/getProperty "java.class.path")
                                      "clojure.main" "-m" "shoal.node" (:path s2)])
                    (.redirectErrorStream true)
                    (.redirectOutput (io/file (str (:path s2) ".log")))
                    .start))
      (wait-one-cluster [s1 s2] 2)
      (.destroyForcibly ^Process @p)                          ; SIGKILL: no leave
      (.waitFor ^Process @p)
      (is (= 2 (count (members s1))) "still listed right after the kill")
      (tn/wait-for "the killed node gone after its lease TTL (3 s)" 15000 #(= 1 (count (members s1))))
      (finally
        (some-> ^Process @p .destroyForcibly)
        (some-> @system sys/stop)
        (.stop ^HttpServer server 0)
        (u/delete-tree dir)))))

(defn- fake-member
  "An HTTPS server with a real node certificate of this cluster's CA that answers probes as a
  member of cluster `cluster-id` whose hub is `hub-url`, which nothing serves: a cluster that
  answers but cannot be joined. Returns [server address identity]."
  [dir cluster-id hub-url]
  (let [ident (sys/start {:identity {:impl :file :data-dir (str dir "/fake") :lifetime-ms 3600000 :hosts []
                                     :ca {:cert (str *secrets* "/cluster-ca.crt")
                                          :key (str *secrets* "/cluster-ca.key")}}})
        ctx (shoal.identity/server-ssl-context (sys/component ident :identity))
        s (com.sun.net.httpserver.HttpsServer/create (InetSocketAddress. "127.0.0.1" 0) 8)
        body (json/write-str {:node-id "0000fake" :phase "member" :hubs [hub-url]
                              :cluster {:id cluster-id :name "ghost" :created-at 1 :size 5}})]
    (.setHttpsConfigurator s (com.sun.net.httpserver.HttpsConfigurator. ctx))
    (.createContext s "/v1/cluster"
                    (reify HttpHandler
                      (handle [_ ex]
                        (let [b (.getBytes ^String body "UTF-8")]
                          (.sendResponseHeaders ex 200 (alength b))
                          (with-open [o (.getResponseBody ex)] (.write o b))))))
    (.start s)
    [s (str "127.0.0.1:" (.getPort (.getAddress s))) ident]))

(deftest a-cluster-that-answers-but-cannot-be-joined-does-not-hold-a-node-forever
  (let [dir (u/temp-dir "shoal-ghost")
        body (atom "[]")
        [server url] (peers-server body)
        [fake fake-addr ident] (fake-member dir "ghost" (str "https://127.0.0.1:" (u/free-port)))
        spec (node-spec dir 1 url)
        system (atom nil)]
    (try
      (reset! body (pr-str [fake-addr (addr spec)]))
      (reset! system (node/start (:path spec)))
      (let [st (tn/wait-for "the node in a cluster of its own" 60000
                            #(let [s (status spec)] (when (tn/healthy? s) s)))]
        (is (not= "ghost" (:cluster-id st)))
        (is (contains? (event-types @system) :shoal/originated)
            "after the failed joins it formed a cluster instead of waiting for the ghost"))
      (finally
        (some-> @system sys/stop)
        (.stop ^HttpServer server 0)
        (.stop ^com.sun.net.httpserver.HttpsServer fake 0)
        (sys/stop ident)
        (u/delete-tree dir)))))
