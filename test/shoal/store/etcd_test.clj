(ns ^:integration shoal.store.etcd-test
  "The etcd client against real etcd 3.4 processes on loopback: the shared contract, real
  lease expiry, endpoint failover, watches surviving a member restart, membership calls and
  mTLS without host name verification."
  (:require [clojure.test :refer [deftest is testing]]
            [shoal.store :as store]
            [shoal.store.etcd :as etcd]
            [shoal.store-contract :refer [run-contract]]
            [shoal.test.etcd :as te]
            [shoal.test.util :as u]))

(defn- thrown-data [f]
  (try (f) nil (catch clojure.lang.ExceptionInfo e (ex-data e))))

(deftest contract
  (te/with-etcd [e {}]
    (run-contract #(etcd/connect {:endpoints [(:client-url e)]}))))

(deftest lease-expires-without-keep-alive
  (te/with-etcd [e {}]
    (with-open [s (etcd/connect {:endpoints [(:client-url e)]})]
      (let [lease (store/grant-lease! s 2)]
        (store/put! s "expiring" "x" {:lease lease})
        (is (= "x" (:value (store/get s "expiring"))))
        (is (u/poll 6000 #(nil? (store/get s "expiring")))
            "gone within a few seconds of the 2 s TTL")
        (is (= :shoal.store/lease-not-found
               (:type (thrown-data #(store/keep-alive! s lease)))))))))

(deftest failover-to-the-next-endpoint
  (te/with-etcd [e {}]
    (let [dead (str "http://127.0.0.1:" (u/free-port))]
      (with-open [s (etcd/connect {:endpoints [dead (:client-url e)] :timeout-ms 1000})]
        (store/put! s "fo" "1")
        (is (= "1" (:value (store/get s "fo"))))
        (is (some? (:cluster-id (store/status s))))
        (testing "watches fail over too"
          (with-open [w (store/watch-prefix s "fo")]
            (store/put! s "fo" "2")
            (is (= ["2"] (map :value (store/read-events w 1 5000))))))))))

(deftest all-endpoints-dead
  (let [eps [(str "http://127.0.0.1:" (u/free-port)) (str "http://127.0.0.1:" (u/free-port))]]
    (with-open [s (etcd/connect {:endpoints eps :timeout-ms 500})]
      (doseq [[what f] {"get" #(store/get s "x")
                        "put" #(store/put! s "x" "y")
                        "status" #(store/status s)
                        "watch" #(store/watch-prefix s "x")}]
        (testing what
          (let [d (thrown-data f)]
            (is (= :shoal.store/unavailable (:type d)))
            (is (= eps (:endpoints d)))
            (is (= 2 (count (:errors d))))))))))

(deftest etcd-errors-are-data
  (te/with-etcd [e {}]
    (with-open [s (etcd/connect {:endpoints [(:client-url e)]})]
      (let [d (thrown-data #(store/member-remove! s "abcdef"))]
        (is (= :shoal.store/error (:type d)))
        (is (integer? (:code d)))
        (is (string? (:message d)))))))

(deftest members-of-a-one-node-etcd
  (te/with-etcd [e {:name "solo"}]
    (with-open [s (etcd/connect {:endpoints [(:client-url e)]})]
      (let [[m :as ms] (store/members s)
            st (store/status s)]
        (is (= 1 (count ms)))
        (is (= {:id (:member-id st) :name "solo" :peer-urls [(:peer-url e)]
                :client-urls [(:client-url e)] :learner? false}
               m))
        (is (= (:leader st) (:member-id st)))
        (is (= "3.4.23" (:version st)))
        (is (pos? (:db-size st)))
        (testing "a learner can be added, updated, refused promotion while absent, removed"
          (let [purl (str "http://127.0.0.1:" (u/free-port))
                added (store/member-add! s [purl] true)]
            (is (= {:name "" :peer-urls [purl] :client-urls [] :learner? true}
                   (dissoc added :id)))
            (is (= 2 (count (store/members s))))
            (let [purl2 (str "http://127.0.0.1:" (u/free-port))
                  after (store/member-update! s (:id added) [purl2])]
              (is (= [purl2] (:peer-urls (first (filter #(= (:id added) (:id %)) after))))))
            (is (= :shoal.store/error
                   (:type (thrown-data #(store/member-promote! s (:id added))))))
            (is (= [(:id m)] (map :id (store/member-remove! s (:id added)))))))))))

(deftest watch-resumes-after-etcd-restarts
  ;; kill -9 and restart the same member on the same data and ports: the watch reconnects and
  ;; delivers the changes made after its last event, without duplicates.
  (let [e (atom (te/start-etcd! {}))]
    (try
      (with-open [s (etcd/connect {:endpoints [(:client-url @e)] :timeout-ms 1000})
                  w (store/watch-prefix s "r/")]
        (store/put! s "r/1" "a")
        (is (= ["a"] (map :value (store/read-events w 1 5000))))
        (swap! e te/kill-and-restart!)
        (store/put! s "r/2" "b")
        (is (= [[:put "r/2" "b"]] (map (juxt :type :key :value) (store/read-events w 1 15000))))
        (is (= [] (store/read-events w 1 500)) "no duplicates"))
      (finally (te/stop-etcd! @e)))))

(deftest mtls-without-host-name-verification
  ;; The node certificate names only DNS:node-abc; we dial 127.0.0.1. The chain is checked
  ;; against the CA, the address is not (see shoal.store.etcd's ns doc).
  (let [pki-dir (u/temp-dir "shoal-pki")]
    (try
      (let [pki (te/make-test-pki! pki-dir "node-abc")
            ctx (te/ssl-context (:node-p12 pki) (:trust-p12 pki))]
        (te/with-etcd [e {:tls pki}]
          (with-open [s (etcd/connect {:endpoints [(:client-url e)] :ssl-context ctx})]
            (store/put! s "tls" "ok")
            (is (= "ok" (:value (store/get s "tls"))))
            (with-open [w (store/watch-prefix s "tls")]
              (store/delete! s "tls")
              (is (= [:delete] (map :type (store/read-events w 1 5000))))))
          (testing "a server from another CA is refused, as unavailable"
            (let [other-dir (u/temp-dir "shoal-pki-other")]
              (try
                (let [other (te/make-test-pki! other-dir "node-abc")
                      bad (te/ssl-context (:node-p12 pki) (:trust-p12 other))]
                  (with-open [s (etcd/connect {:endpoints [(:client-url e)] :ssl-context bad})]
                    (is (= :shoal.store/unavailable (:type (thrown-data #(store/get s "tls")))))))
                (finally (u/delete-tree other-dir)))))
          (testing "without the context: no client certificate, refused"
            (with-open [s (etcd/connect {:endpoints [(:client-url e)] :timeout-ms 1000})]
              (is (= :shoal.store/unavailable (:type (thrown-data #(store/get s "tls")))))))))
      (finally (u/delete-tree pki-dir)))))
