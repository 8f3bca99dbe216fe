(ns shoal.membership.bootstrap-test
  (:require [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [shoal.membership.bootstrap :as b]))

(def cfg {:stable-for 3000 :contacts 1})

(defn- run-rounds
  "Feeds the same probes every 500 ms from t=0 to t=`until`; returns the last decision."
  [self probes until cfg]
  (loop [st (b/initial-state self 0) t 0 d nil]
    (if (> t until)
      d
      (let [{:keys [state decision]} (b/step st probes t cfg)]
        (recur state (+ t 500) decision)))))

(deftest a-node-alone-originates-after-the-stable-window
  (is (= :wait (first (run-rounds "m" [] 2500 cfg))))
  (is (= [:originate "no peer seen: originating alone"] (run-rounds "m" [] 3000 cfg))))

(deftest the-lowest-id-originates-the-others-wait
  (let [probes (fn [ids] (map (fn [i] {:node-id i}) ids))
        all ["c" "a" "b"]]
    (is (= :originate (first (run-rounds "a" (probes all) 5000 cfg))))
    (is (= [:wait "waiting for a (lowest id) to originate"] (run-rounds "b" (probes all) 5000 cfg)))
    (is (= :wait (first (run-rounds "c" (probes ["a" "b"]) 5000 cfg))))))

(deftest a-change-in-what-is-seen-restarts-the-window
  (let [s0 (b/initial-state "b" 0)
        {s1 :state} (b/step s0 [{:node-id "a"}] 2900 cfg)
        {s2 :state d2 :decision} (b/step s1 [] 3000 cfg)]
    (is (= 3000 (:stable-since s2)) "a vanished: stability starts over")
    (is (= :wait (first d2)))
    (is (= :originate (first (:decision (b/step s2 [] 6000 cfg)))) "the dead lowest is not waited for")))

(deftest contacts-must-be-seen-before-forming
  (is (= [:wait "seeing 2 nodes, need 3 contacts before forming"]
         (run-rounds "a" [{:node-id "b"}] 10000 {:stable-for 1000 :contacts 3}))))

(deftest a-cluster-seen-is-joined-at-once
  (let [c {:id "c1" :size 2 :created-at 10}
        [kind {:keys [cluster hubs]}] (:decision (b/step (b/initial-state "z" 0)
                                                         [{:node-id "a" :cluster c :hubs ["h1"]}
                                                          {:node-id "b"}]
                                                         0 cfg))]
    (is (= :join kind))
    (is (= c cluster))
    (is (= ["h1"] hubs))))

(deftest clusters-are-ordered-by-size-then-age-then-id
  (is (b/better? {:size 3 :created-at 99 :id "z"} {:size 2 :created-at 1 :id "a"}))
  (is (b/better? {:size 2 :created-at 1 :id "z"} {:size 2 :created-at 5 :id "a"}))
  (is (b/better? {:size 2 :created-at 1 :id "a"} {:size 2 :created-at 1 :id "b"}))
  (is (not (b/better? {:size 2 :created-at 1 :id "a"} {:size 2 :created-at 1 :id "a"}))))

(deftest merge-goes-to-the-better-cluster-only
  (let [small {:id "s" :size 1 :created-at 1}
        big {:id "b" :size 3 :created-at 5}]
    (testing "the smaller cluster dissolves into the bigger"
      (is (= big (:cluster (b/merge-target small [{:node-id "x" :cluster big :hubs ["h"]}])))))
    (testing "the bigger stays"
      (is (nil? (b/merge-target big [{:node-id "y" :cluster small}]))))
    (testing "its own cluster is never a target"
      (is (nil? (b/merge-target small [{:node-id "y" :cluster small}]))))))

(def gen-cluster
  (gen/hash-map :id (gen/elements ["a" "b" "c" "d"])
                :size (gen/choose 1 6)
                :created-at (gen/choose 0 5)))

(defspec better-is-a-strict-total-order 300
  (prop/for-all [x gen-cluster y gen-cluster]
    (if (= [(:id x) (:size x) (:created-at x)] [(:id y) (:size y) (:created-at y)])
      (and (not (b/better? x y)) (not (b/better? y x)))
      (or (= (:id x) (:id y))            ; two views of one cluster are not compared
          (not= (b/better? x y) (b/better? y x))))))

(defspec two-clusters-never-dissolve-into-each-other 300
  (prop/for-all [x gen-cluster y gen-cluster]
    (let [x (assoc x :id "x") y (assoc y :id "y")]
      (not (and (b/merge-target x [{:node-id "n" :cluster y}])
                (b/merge-target y [{:node-id "m" :cluster x}]))))))

(defspec exactly-one-of-a-stable-group-originates 200
  (prop/for-all [ids (gen/set (gen/not-empty gen/string-alphanumeric) {:min-elements 1 :max-elements 8})]
    (let [decide (fn [self] (first (run-rounds self (map (fn [i] {:node-id i}) (disj ids self)) 4000 cfg)))]
      (= 1 (count (filter #{:originate} (map decide ids)))))))
