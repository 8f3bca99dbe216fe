(ns shoal.loop-test
  (:require [clojure.test :refer [deftest is testing]]
            [shoal.loop :as lp]))

(deftest an-unexpected-death-is-handed-to-on-fatal
  (let [fatal (promise)
        t (lp/supervised-thread "test-dies" #(throw (StackOverflowError. "deep"))
                                {:on-fatal (fn [n e] (deliver fatal [n (class e)]))})]
    (.join t 5000)
    (is (= ["test-dies" StackOverflowError] (deref fatal 5000 :none)))))

(deftest an-interrupt-ends-the-thread-quietly
  (let [fatal (promise)
        started (promise)
        t (lp/supervised-thread "test-sleeps" #(do (deliver started true) (Thread/sleep 60000))
                                {:on-fatal (fn [n e] (deliver fatal e))})]
    @started
    (.interrupt t)
    (.join t 5000)
    (is (not (.isAlive t)))
    (is (= :none (deref fatal 100 :none)))))

(deftest backoff-grows-is-capped-and-jittered
  (testing "attempt 0 is base·[0.5, 1.5)"
    (is (every? #(<= 50 % 149) (repeatedly 200 #(lp/backoff-ms 100 5000 0)))))
  (testing "capped at max·[0.5, 1.5)"
    (is (every? #(<= 2500 % 7499) (repeatedly 200 #(lp/backoff-ms 100 5000 40))))))

(deftest sleep-reports-an-interrupt-instead-of-throwing
  (.interrupt (Thread/currentThread))
  (let [r (lp/sleep! 1000)
        flag (Thread/interrupted)]                  ; read (and cleared) before anything else runs
    (is (false? r))
    (is flag "the flag stays set for the loop to see")))
