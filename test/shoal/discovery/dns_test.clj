(ns shoal.discovery.dns-test
  "The :dns source against the tests' own DNS server on loopback (shoal.test.dns-server): SRV
  records whose targets resolve to A records, A records only with the source's port, NXDOMAIN,
  and a server that does not answer. Never asks the machine's own resolvers."
  (:require [clojure.test :refer [deftest is testing use-fixtures]]
            [shoal.discovery :as d]
            [shoal.test.dns-server :as dns-server]
            [shoal.test.discovery :as td])
  (:import (java.net DatagramSocket InetAddress)))

(def ^:private zone
  {"shoal.test." {:srv [{:priority 10 :weight 0 :port 7441 :target "n3.shoal.test."}
                        {:priority 0 :weight 5 :port 7440 :target "n1.shoal.test."}
                        {:priority 0 :weight 50 :port 7442 :target "n2.shoal.test."}]}
   "n1.shoal.test." {:a ["10.1.2.1" "10.1.2.11"]}
   "n2.shoal.test." {:a ["10.1.2.2"]}
   "n3.shoal.test." {:a ["10.1.2.3"]}
   "alias.shoal.test." {:a ["10.1.3.1" "10.1.3.2" "10.1.3.3"]}
   "empty.shoal.test." {}
   "dangling.shoal.test." {:srv [{:priority 0 :weight 0 :port 7440 :target "gone.shoal.test."}]}})

(def ^:dynamic *server* nil)

(use-fixtures :once (fn [t]
                      (let [s (dns-server/start! zone)]
                        (try (binding [*server* (:server s)] (t))
                             (finally ((:stop s)))))))

(defn- dns [n & {:as more}]
  (merge {:type :dns :name n :port 7440 :server *server*} more))

(deftest srv-records-with-their-targets-addresses
  (is (= [{:host "10.1.2.2" :port 7442}         ; priority 0, heaviest first
          {:host "10.1.2.1" :port 7440} {:host "10.1.2.11" :port 7440}
          {:host "10.1.2.3" :port 7441}]        ; priority 10
         (d/candidates (d/source (dns "shoal.test")) 1000)))
  (testing "a trailing dot and any case mean the same name"
    (is (= 4 (count (d/candidates (d/source (dns "SHOAL.test.")) 1000))))))

(deftest a-records-with-the-source-port-when-there-is-no-srv
  (is (= [{:host "10.1.3.1" :port 7450} {:host "10.1.3.2" :port 7450} {:host "10.1.3.3" :port 7450}]
         (d/candidates (d/source (dns "alias.shoal.test" :port 7450)) 1000)))
  (testing "the default port"
    (is (= {:host "10.1.2.2" :port 7440}
           (first (d/candidates (d/source (dissoc (dns "n2.shoal.test") :port)) 1000))))))

(deftest missing-names-and-records-fail-with-a-reason
  (is (= "dns nope.shoal.test: no such name nope.shoal.test. (NXDOMAIN)"
         (td/failure (dns "nope.shoal.test") 1000)))
  (is (= "dns empty.shoal.test: no SRV or A records for empty.shoal.test"
         (td/failure (dns "empty.shoal.test") 1000)))
  (is (= "dns dangling.shoal.test: no such name gone.shoal.test. (NXDOMAIN)"
         (td/failure (dns "dangling.shoal.test") 1000))
      "an SRV target that does not resolve")
  (testing "in discover: skipped, the others kept"
    (let [r (d/discover [(dns "nope.shoal.test") (dns "n3.shoal.test")] 1000)]
      (is (= [{:host "10.1.2.3" :port 7440}] (:candidates r)))
      (is (= [(dns "nope.shoal.test")] (map :source (:errors r)))))))

(deftest a-silent-server-times-out
  (with-open [silent (DatagramSocket. 0 (InetAddress/getByName "127.0.0.1"))]
    (let [cfg (dns "shoal.test" :server (str "127.0.0.1:" (.getLocalPort silent)))
          t0 (System/currentTimeMillis)]
      (is (re-find #"^dns shoal\.test: SRV query for shoal\.test got no answer" (td/failure cfg 600)))
      (is (< (- (System/currentTimeMillis) t0) 1500)))))

(deftest the-server-key
  (testing "as written in a test, or conformed from node.edn"
    (is (= 4 (count (d/candidates (d/source (dns "shoal.test")) 1000))))
    (is (= 4 (count (d/candidates (d/source (dns "shoal.test" :server (d/parse-address *server*))) 1000)))))
  (testing "refused when it is not an address"
    (is (= ::d/invalid-source
           (:type (ex-data (try (d/source (dns "shoal.test" :server "a b")) (catch Exception e e))))))))
