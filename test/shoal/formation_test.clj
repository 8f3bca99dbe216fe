(ns ^:e2e shoal.formation-test
  "Many machines, one cluster: node containers from the real image on Docker networks of their
  own, with faults injected (kill, graceful stop, partition and heal, restart with a new
  address) and each kind of discovery source served by something the test starts."
  (:require [clojure.java.io :as io]
            [clojure.java.shell :as sh]
            [clojure.set :as set]
            [clojure.test :refer [deftest is testing]]
            [shoal.test.cluster :as c]
            [shoal.test.dns-server :as dns]
            [shoal.test.docker :as d]
            [shoal.test.util :as u]))

(def ^:private image-node-edn
  "The image's own node.edn, as data, for tests that change only its discovery."
  (read-string (slurp "image/node.edn")))

(defn- with-sources [sources]
  (assoc image-node-edn :discovery {:sources sources :timeout "1s" :stable-for "2s" :contacts 1}))

(defn- gateway [cl]
  (get-in @(:state cl) [:networks (c/home-network cl) :gateway]))

(defn- hubs [cl ns]
  (->> (c/statuses cl ns) vals (mapcat :members) (filter #(= ["hub"] (:roles %))) (map :id) set))

(deftest five-nodes-started-at-once-form-exactly-one-cluster-and-a-later-one-joins
  (c/with-cluster [cl {:nodes 5}]
    (let [cid (c/wait-one-cluster cl [1 2 3 4 5] 120000)]
      (testing "one cluster, one hub (the node that originated)"
        (is (string? cid))
        (is (= 1 (count (hubs cl [1 2 3 4 5])))))
      (testing "a sixth node started later joins it"
        (let [n6 (c/add-node! cl)]
          (is (= cid (c/wait-one-cluster cl [1 2 3 4 5 n6]))))))))

(deftest graceful-leave-is-immediate-and-a-killed-node-expires
  (c/with-cluster [cl {:nodes 3}]
    (c/wait-one-cluster cl [1 2 3] 120000)
    (let [[hub] (c/with-role cl "hub")
          [a b] (remove #{hub} [1 2 3])]
      (testing "SIGTERM: the lease is revoked, gone well before the 10 s TTL could expire it"
        (c/stop! cl a)
        (is (= 0 (d/exit-code (c/node-name cl a))) "the node exits 0 after leaving")
        (c/wait-not-member cl [hub b] a 5000))
      (testing "SIGKILL: no leave, gone when the lease expires"
        (c/kill! cl b)
        (is (= 2 (count (:members (c/status cl hub)))) "still listed right after the kill")
        (c/wait-not-member cl [hub] b 30000)))))

(deftest two-clusters-formed-apart-merge-when-the-network-heals
  (c/with-cluster [cl {:nodes 5 :partition [[1 2 3] [4 5]]}]
    (let [big (c/wait-one-cluster cl [1 2 3] 120000)
          small (c/wait-one-cluster cl [4 5] 120000)]
      (is (not= big small) "formed apart: two clusters")
      (c/heal! cl)
      (is (= big (c/wait-one-cluster cl [1 2 3 4 5] 120000)) "the smaller cluster dissolved into the bigger")
      (is (= 1 (count (hubs cl [1 2 3 4 5]))) "the dissolved cluster's hub stopped its etcd"))))

(deftest a-node-and-the-hub-restarted-with-new-addresses-keep-their-ids
  (c/with-cluster [cl {:nodes 3}]
    (let [cid (c/wait-one-cluster cl [1 2 3] 120000)
          [hub] (c/with-role cl "hub")
          [a] (remove #{hub} [1 2 3])
          ids (into {} (map (juxt identity #(c/node-id cl %))) [1 2 3])]
      (testing "a member restarted with another address"
        (let [old-ip (c/node-ip cl a)
              new-ip (c/restart! cl a {:ip :new})]
          (is (not= old-ip new-ip))
          (is (= cid (c/wait-one-cluster cl [1 2 3])))
          (is (= (ids a) (c/node-id cl a)) "same id")
          (c/wait-until cl "the member listed at its new address" 60000
                        (fn [sts]
                          (some #(= (str new-ip ":7440") (get-in % [:addresses :api]))
                                (:members (get sts (c/node-name cl hub))))))))
      (testing "the hub restarted with another address: the cluster stays healthy"
        (let [new-ip (c/restart! cl hub {:ip :new})]
          (is (= cid (c/wait-one-cluster cl [1 2 3] 120000)))
          (is (= (ids hub) (c/node-id cl hub)) "same id")
          (is (= #{(ids hub)} (hubs cl [1 2 3])) "still the hub")
          (c/wait-until cl "every node healthy, etcd re-advertised at the new address" 60000
                        (fn [sts]
                          (and (every? #(get-in % [:etcd :healthy]) (vals sts))
                               (some #(= (str "https://" new-ip ":2380") (first (:peer-urls %)))
                                     (get-in (get sts (c/node-name cl hub)) [:etcd :members]))))))))))

(deftest discovery-through-a-url-served-by-a-container-skipping-a-bad-source
  (c/with-cluster [cl {:nodes 0}]
    (let [web (c/run-container! cl {:name "peers" :image (d/busybox-image!)
                                    :cmd ["sh" "-c" "mkdir -p /www && echo [] > /www/peers.edn && httpd -f -p 8080 -h /www"]})
          ;; the address list is written once the nodes' addresses are known
          edn (with-sources [{:type :url :url (str "http://" (gateway cl) ":1/nothing-listens-here")}
                             {:type :url :url (str "http://" (:ip web) ":8080/peers.edn")}])
          n1 (c/add-node! cl {:node-edn edn})
          n2 (c/add-node! cl {:node-edn edn})
          body (pr-str [(str (c/node-ip cl n1) ":7440") (str (c/node-ip cl n2) ":7440")])]
      (d/exec-in! (:name web) "sh" "-c" (str "echo '" body "' > /www/peers.edn"))
      (is (c/wait-one-cluster cl [n1 n2] 120000))
      (is (re-find #"skipping source: url http://[0-9.]+:1/nothing-listens-here"
                   (d/logs (c/node-name cl n1)))))))

(deftest discovery-through-dns-srv-records-of-a-server-the-test-runs
  (c/with-cluster [cl {:nodes 0}]
    (let [zone (atom {})
          ips [(d/subnet-host (get-in @(:state cl) [:networks (c/home-network cl) :subnet]) 101)
               (d/subnet-host (get-in @(:state cl) [:networks (c/home-network cl) :subnet]) 102)]
          server (dns/start! {"peers.shoal.test." {:srv [{:priority 0 :weight 0 :port 7440 :target "a.shoal.test."}
                                                         {:priority 0 :weight 0 :port 7440 :target "b.shoal.test."}]}
                              "a.shoal.test." {:a [(first ips)]}
                              "b.shoal.test." {:a [(second ips)]}}
                             {:host (gateway cl)})]
      (try
        (let [edn (with-sources [{:type :dns :name "peers.shoal.test" :server (:server server)}])
              n1 (c/add-node! cl {:node-edn edn :ip (first ips)})
              n2 (c/add-node! cl {:node-edn edn :ip (second ips)})]
          (is (c/wait-one-cluster cl [n1 n2] 120000)))
        (finally ((:stop server)))))))

(deftest discovery-and-publication-through-a-git-repo
  (let [dir (u/temp-dir "shoal-peers-git")
        repo (str dir "/peers.git")]
    (try
      (is (zero? (:exit (sh/sh "git" "init" "-q" "--bare" "-b" "main" repo))))
      (c/with-cluster [cl {:nodes 0 :args ["-v" (str repo ":/srv/peers.git")]}]
        (let [edn (with-sources [{:type :git :repo "/srv/peers.git" :path "peers.edn" :publish true}])
              n1 (c/add-node! cl {:node-edn edn})]
          (c/wait-healthy cl n1)
          (let [n2 (c/add-node! cl {:node-edn edn})
                cid (c/wait-one-cluster cl [n1 n2] 120000)]
            (is (string? cid))
            (testing "both nodes published their address to the repo"
              (c/wait-until cl "both addresses in peers.edn" 30000
                            (fn [_]
                              (let [{:keys [out]} (sh/sh "git" "--git-dir" repo "show" "main:peers.edn")]
                                (set/subset? #{(str (c/node-ip cl n1) ":7440") (str (c/node-ip cl n2) ":7440")}
                                             (set (read-string (if (seq out) out "[]")))))))))))
      (finally (u/delete-tree dir)))))
