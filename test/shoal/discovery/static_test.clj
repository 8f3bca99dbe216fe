(ns shoal.discovery.static-test
  "The :static source: the listed addresses, as conformed by shoal.config or written in code."
  (:require [clojure.test :refer [deftest is testing]]
            [shoal.discovery :as d]))

(deftest lists-its-addresses-in-order
  (testing "as conformed by shoal.config"
    (is (= [{:host "10.0.0.3" :port 7440} {:host "10.0.0.2" :port 7441}]
           (d/candidates (d/source {:type :static :addresses [{:host "10.0.0.3" :port 7440}
                                                              {:host "10.0.0.2" :port 7441}]})
                         100))))
  (testing "as written in code"
    (is (= [{:host "n1" :port 7440} {:host "::1" :port 9}]
           (d/candidates (d/source {:type :static :addresses ["n1" "[::1]:9"]}) 100))))
  (testing "none"
    (is (= [] (d/candidates (d/source {:type :static :addresses []}) 100)))))

(deftest refuses-what-is-not-an-address
  (doseq [cfg [{:type :static}
               {:type :static :addresses "10.0.0.1:7440"}
               {:type :static :addresses ["10.0.0.1:7440" "10.0.0.1:99999"]}]]
    (let [e (try (d/source cfg) nil (catch Exception e e))]
      (is (= ::d/invalid-source (:type (ex-data e))) (pr-str cfg))
      (is (re-find #"^static: " (ex-message e))))))
