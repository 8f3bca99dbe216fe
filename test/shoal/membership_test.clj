(ns shoal.membership-test
  (:require [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [shoal.membership :as m]))

(deftest records-round-trip-through-the-store-encoding
  (let [rec (m/node-record {:id "ab12" :name "n1" :addresses {:api "10.0.0.1:7440"}
                            :facts {:cpus 2 :labels {:zone "a"}} :now 5})]
    (is (= rec (m/decode (m/encode rec))))
    (is (nil? (m/decode nil)))))

(deftest decoding-never-evaluates-code
  (is (thrown? Exception (m/decode "#=(java.lang.System/exit 1)")))
  (is (thrown? Exception (m/decode "#shoal/evil {}"))))

(deftest roles-come-from-etcd-membership
  (let [view (m/members-view [{:id "b"} {:id "a"} {:id "c"}]
                             [{:name "a" :learner? false} {:name "c" :learner? true}])]
    (is (= ["a" "b" "c"] (map :id view)))
    (is (= [["hub"] [] ["learner"]] (map :roles view)))))

(defspec members-view-keeps-every-node-once 100
  (prop/for-all [ids (gen/vector-distinct (gen/not-empty gen/string-alphanumeric))
                 hubs (gen/vector gen/string-alphanumeric)]
    (let [view (m/members-view (map (fn [i] {:id i}) ids) (map (fn [h] {:name h}) hubs))]
      (and (= (sort ids) (map :id view))
           (every? #(= (if (some #{(:id %)} hubs) ["hub"] []) (:roles %)) view)))))
