(ns ^:e2e shoal.harness-test
  "Tests of the end-to-end harness itself (shoal.test.docker, shoal.test.cluster), with a
  busybox image instead of shoal nodes so that they hold whatever shoal's membership does:
  addresses, faults, partitions, logs, waits, and that nothing a test creates outlives it.
  The last test starts one real node container."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [shoal.test.cluster :as c]
            [shoal.test.docker :as d]))

(def ^:private httpd
  "Busybox 'nodes': say who they are, then serve HTTP on 8080 in the foreground."
  ["sh" "-c" "echo started as $(hostname); exec httpd -f -p 8080"])

(defn- busybox-opts [extra]
  (merge {:image (d/busybox-image!) :cmd httpd} extra))

(defn- leftovers
  "Containers and networks still labelled with `run-id`."
  [run-id]
  (concat (remove str/blank? (str/split-lines (d/docker! "ps" "-a" "-q" "--filter" (str "label=shoal.test=" run-id))))
          (remove str/blank? (str/split-lines (d/docker! "network" "ls" "-q" "--filter" (str "label=shoal.test=" run-id))))))

(defn- in-subnet? [ip subnet]
  (d/cidr-overlap? (str ip "/32") subnet))

(defn- resolve-shoal
  "The addresses the `shoal` alias resolves to, as seen from inside container `from`."
  [from]
  (let [out (:out (d/exec! {:check? false} ["exec" from "nslookup" "shoal"]))]
    ;; busybox prints the server first ("Server: 127.0.0.11"), then "Address: <ip>" per answer
    (->> (re-seq #"Address:\s+(\d+\.\d+\.\d+\.\d+)" out)
         (map second)
         (remove #(str/starts-with? % "127."))
         set)))

(defn- ip-in-docker [c n]
  (d/ip-of (c/node-name c n)))

(deftest docker-failures-are-data
  (let [e (try (d/docker! "inspect" "--type" "container" "shoal-no-such-container") nil
               (catch clojure.lang.ExceptionInfo e e))]
    (is (= :shoal.test/docker-failed (:type (ex-data e))))
    (is (= ["inspect" "--type" "container" "shoal-no-such-container"] (:args (ex-data e))))
    (is (= 1 (:exit (ex-data e))))
    (is (re-find #"(?i)no such" (:stderr (ex-data e)))))
  (testing "a free subnet overlaps nothing in use"
    (let [s (d/free-subnet)]
      (is (not-any? #(d/cidr-overlap? s %) (d/used-subnets))))))

(deftest nodes-get-their-own-addresses-and-find-each-other
  (c/with-cluster [c (busybox-opts {:nodes 2})]
    (let [subnet (get-in (d/inspect (c/home-network c)) [:IPAM :Config 0 :Subnet])
          [n1 n2] (map :name (c/nodes c))]
      (is (= [1 2] (map :index (c/nodes c))))
      (is (= (str "shoal-" (:run-id c) "-n1") n1))
      (is (every? d/running? [n1 n2]))
      (testing "each node has its own address on the cluster's own subnet, as Docker says"
        (let [ips (map #(c/node-ip c %) [1 2])]
          (is (= 2 (count (set ips))))
          (is (every? #(in-subnet? % subnet) ips))
          (is (= ips (map #(ip-in-docker c %) [1 2])))))
      (testing "labels mark the run"
        (is (= (:run-id c) (get-in (d/inspect n1) [:Config :Labels :shoal.test]))))
      (testing "the shoal alias resolves to every node"
        (is (= (set (map #(c/node-ip c %) [1 2]))
               (c/wait-until c "the alias to resolve to both nodes" 10000
                             (fn [_] (let [ips (resolve-shoal n1)] (when (= 2 (count ips)) ips)))))))
      (testing "logs are captured"
        (is (str/includes? (c/wait-until c "n2 to log" 10000 (fn [_] (re-find #"started as .*" (d/logs n2)))) n2)))
      (testing "the docker socket is mounted as in production"
        (is (some #(= "/var/run/docker.sock" (:Destination %)) (:Mounts (d/inspect n1)))))
      (testing "a side container is on the network and resolves by name"
        (let [{:keys [name ip]} (c/run-container! c {:name "web" :image (d/busybox-image!) :cmd httpd})]
          (is (d/running? name))
          (is (in-subnet? ip subnet))
          (is (str/includes? (c/wait-until c "the web side container to serve" 10000
                                           (fn [_] (let [r (d/exec! {:check? false}
                                                                    ["exec" n1 "wget" "-q" "-O" "-" "http://web:8080/"])]
                                                     ;; busybox httpd with no index: any HTTP answer proves the path
                                                     (when (or (zero? (:exit r)) (re-find #"HTTP|404|403" (:err r)))
                                                       (str (:out r) (:err r))))))
                             "")))))))

(deftest a-node-edn-is-mounted-into-each-node
  (c/with-cluster [c (busybox-opts {:nodes 1 :node-edn {:discovery {:sources []}}
                                    :cmd ["sh" "-c" "cat /etc/shoal/node.edn; exec sleep 600"]})]
    (let [n2 (c/add-node! c {:node-edn (fn [_ nm] {:name nm})})
          logged #(c/wait-until c "node.edn in the log" 10000
                                (fn [_] (not-empty (d/logs (c/node-name c %)))))]
      (is (= {:discovery {:sources []}} (read-string (logged 1))))
      (is (= {:name (c/node-name c n2)} (read-string (logged n2)))))))

(deftest faults-change-what-docker-reports
  (c/with-cluster [c (busybox-opts {:nodes 2})]
    (let [n1 (c/node-name c 1)
          home-ip (c/node-ip c 1)]
      (testing "kill: SIGKILL, exit code 137"
        (c/kill! c 1)
        (is (= :exited (d/state n1)))
        (is (= 137 (d/exit-code n1)))
        (is (= :killed (:state (c/node c 1)))))
      (testing "start: same container, same address"
        (c/start! c 1)
        (is (d/running? n1))
        (is (nil? (d/exit-code n1)))
        (is (= home-ip (ip-in-docker c 1))))
      (testing "restart"
        (let [before (get-in (d/inspect n1) [:State :StartedAt])]
          (c/restart! c 1 {:kill? true})
          (is (d/running? n1))
          (is (not= before (get-in (d/inspect n1) [:State :StartedAt])))
          (is (= home-ip (ip-in-docker c 1)))))
      (testing "pause and unpause"
        (c/pause! c 1)
        (is (= :paused (d/state n1)))
        (is (not (d/running? n1)))
        (c/unpause! c 1)
        (is (d/running? n1)))
      (testing "disconnect: no network, no address"
        (c/disconnect! c 1)
        (is (= {} (d/networks-of n1)))
        (is (nil? (c/node-ip c 1)))
        (is (d/running? n1)))
      (testing "reconnect: home address and alias back"
        (is (= home-ip (c/reconnect! c 1)))
        (is (= home-ip (ip-in-docker c 1)))
        (is (some #{"shoal"} (get-in (d/inspect n1) [:NetworkSettings :Networks (keyword (c/home-network c)) :Aliases]))))
      (testing "reconnect with a new address"
        (let [new-ip (c/reconnect! c 1 {:ip :new})]
          (is (not= home-ip new-ip))
          (is (= new-ip (ip-in-docker c 1) (c/node-ip c 1)))))
      (testing "restart with a new address: stopped, moved, started"
        (let [before (c/node-ip c 2)
              after (c/restart! c 2 {:kill? true :ip :new})]
          (is (not= before after))
          (is (d/running? (c/node-name c 2)))
          (is (= after (ip-in-docker c 2)))))
      (testing "graceful stop"
        (c/stop! c 2 1)
        (is (= :exited (d/state (c/node-name c 2))))
        (is (integer? (d/exit-code (c/node-name c 2)))))
      (testing "add-node! takes the next index and a fresh address"
        (is (= 3 (c/add-node! c)))
        (is (d/running? (c/node-name c 3)))
        (is (= 3 (count (set (map :home-ip (c/nodes c))))))))))

(deftest partitions-separate-the-alias-and-heal-brings-nodes-home
  (c/with-cluster [c (busybox-opts {:nodes 3 :partition [[1 2] [3]]})]
    (let [[n1 n2 n3] (map #(c/node-name c %) [1 2 3])
          home (set (map :home-ip (c/nodes c)))]
      (testing "started apart: the alias finds only a node's own group"
        (is (= (str "shoal-" (:run-id c) "-p2") (:network (c/node c 3))))
        (is (= #{(c/node-ip c 1) (c/node-ip c 2)}
               (c/wait-until c "group 1 alias" 10000 (fn [_] (let [r (resolve-shoal n1)] (when (= 2 (count r)) r))))))
        (is (= #{(c/node-ip c 3)} (resolve-shoal n3)))
        (is (not (contains? home (c/node-ip c 3))) "a partitioned node has an address of its own network"))
      (testing "heal: everyone home, with their home addresses; the partition network is gone"
        (c/heal! c)
        (is (= home (set (map #(c/node-ip c %) [1 2 3]))))
        (is (= home (set (map #(ip-in-docker c %) [1 2 3]))))
        (is (nil? (d/inspect (str "shoal-" (:run-id c) "-p2"))))
        (is (= home (c/wait-until c "the alias to find all three" 10000
                                  (fn [_] (let [r (resolve-shoal n2)] (when (= 3 (count r)) r)))))))
      (testing "partition! while running"
        (is (= {(c/home-network c) [1] (str "shoal-" (:run-id c) "-p2") [2 3]} (c/partition! c [[1] [2 3]])))
        (is (= #{(c/node-ip c 2) (c/node-ip c 3)}
               (c/wait-until c "group 2 alias" 10000 (fn [_] (let [r (resolve-shoal n3)] (when (= 2 (count r)) r))))))
        (is (= #{(c/node-ip c 1)} (resolve-shoal n1)))
        (c/heal! c)
        (is (= home (set (map #(ip-in-docker c %) [1 2 3]))))))))

(deftest waits-return-the-value-or-fail-with-every-status
  (c/with-cluster [c (busybox-opts {:nodes 2})]
    (is (= 42 (c/wait-until c "something" 1000 (fn [sts] (when (= 2 (count sts)) 42)))))
    (testing "busybox nodes never answer /v1/status: a wait times out, naming every node"
      (let [e (try (c/wait-members c 1 1 600) nil (catch clojure.lang.ExceptionInfo e e))]
        (is (= :shoal.test/timeout (:type (ex-data e))))
        (is (= {(c/node-name c 1) nil (c/node-name c 2) nil} (:statuses (ex-data e))))
        (is (str/includes? (ex-message e) "listing 1 members"))
        (is (str/includes? (ex-message e) (c/node-name c 2)))
        (is (str/includes? (ex-message e) "no answer"))))
    (testing "a pred that throws counts as false and its error is reported"
      (let [e (try (c/wait-until c "a broken pred" 300 (fn [_] (throw (ex-info "broken" {})))) nil
                   (catch clojure.lang.ExceptionInfo e e))]
        (is (= :shoal.test/timeout (:type (ex-data e))))
        (is (str/includes? (ex-message e) "broken"))))))

(deftest nothing-remains-after-an-exception-and-logs-are-dumped
  (let [run (atom nil)
        out (with-out-str
              (is (thrown-with-msg? clojure.lang.ExceptionInfo #"boom"
                                    (c/with-cluster [c (busybox-opts {:nodes 2})]
                                      (reset! run (:run-id c))
                                      (c/run-container! c {:name "side" :image (d/busybox-image!)
                                                           :cmd ["sh" "-c" "echo side-says-hi; exec sleep 60"]})
                                      (c/wait-until c "logs" 10000
                                                    (fn [_] (every? #(str/includes? (d/logs (c/node-name c %)) "started") [1 2])))
                                      (c/disconnect! c 2)
                                      (throw (ex-info "boom" {}))))))]
    (is (some? @run))
    (is (empty? (leftovers @run)))
    (is (not (.exists (io/file "target/e2e/runs" @run))))
    (is (re-find (re-pattern (str "===== n1 shoal-" @run "-n1")) out))
    (is (re-find (re-pattern (str "started as shoal-" @run "-n2")) out))
    (is (str/includes? out "side-says-hi"))))

(deftest a-failed-assertion-dumps-logs-and-cleans-up
  (let [run (atom nil)
        reports (atom [])
        out (with-out-str
              (binding [clojure.test/report #(swap! reports conj (:type %))]
                (c/with-cluster [c (busybox-opts {:nodes 1})]
                  (reset! run (:run-id c))
                  (c/wait-until c "a log line" 10000 (fn [_] (str/includes? (d/logs (c/node-name c 1)) "started")))
                  (is (= 1 2) "a deliberate failure, reported to the binding above"))))]
    (is (= [:fail] @reports))
    (is (empty? (leftovers @run)))
    (is (str/includes? out (str "started as shoal-" @run "-n1"))))
  (testing "a passing body prints nothing"
    (let [out (with-out-str (c/with-cluster [c (busybox-opts {:nodes 1})] (is true)))]
      (is (not (str/includes? out "=====")))))
  (testing "a failed start (a bad image) still removes the network"
    (let [run (atom nil)]
      (is (thrown? clojure.lang.ExceptionInfo
                   (with-out-str
                     (c/with-cluster [c (busybox-opts {:nodes 1 :image "shoal-test-no-such-image:0"
                                                       :args ["--pull" "never"]})]
                       (reset! run :body-ran)))))
      (is (nil? @run))
      (is (not-any? (fn [[_ {:keys [pid]}]] (= pid (.pid (java.lang.ProcessHandle/current)))) (d/run-ids))
          "no run of this test process is left"))))

(deftest stale-runs-are-removed-live-ones-kept
  (let [dead (d/new-run-id) live (d/new-run-id)]
    (try
      (d/network-create! (str "shoal-" dead) {:run-id dead :labels {"shoal.test.pid" "2147483646"}})
      (d/network-create! (str "shoal-" live) {:run-id live})
      (d/run! (d/busybox-image!) {:name (str "shoal-" dead "-x") :run-id dead :network (str "shoal-" dead)
                                  :labels {"shoal.test.pid" "2147483646"}})
      (is (= {:pid 2147483646} (select-keys (get (d/run-ids) dead) [:pid])))
      (let [removed (d/cleanup-stale!)]
        (is (some #{dead} removed))
        (is (not (some #{live} removed))))
      (is (empty? (leftovers dead)))
      (is (= 1 (count (leftovers live))))
      (finally
        (d/cleanup! dead)
        (d/cleanup! live)))
    (is (empty? (leftovers live)))))

(deftest a-real-node-originates-a-healthy-one-node-cluster
  (c/with-cluster [c {:nodes 1}]
    (let [s (c/wait-healthy c 1 120000)]
      (is (get-in s [:etcd :healthy]))
      (is (= 1 (count (:members s))))
      (is (= (:node-id s) (c/node-id c 1)))
      (is (= (str (c/node-ip c 1) ":7440") (get-in s [:members 0 :addresses :api]))))))
