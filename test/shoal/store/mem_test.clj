(ns shoal.store.mem-test
  "The in-memory store: the shared contract, plus its own clock-driven lease expiry and
  member bookkeeping."
  (:require [clojure.test :refer [deftest is testing]]
            [shoal.store :as store]
            [shoal.store.mem :as mem]
            [shoal.store-contract :refer [run-contract]]))

(deftest contract
  (run-contract mem/create))

(deftest leases-follow-the-injected-clock
  (let [now (atom 1000)
        s (mem/create {:clock #(deref now)})
        lease (store/grant-lease! s 10)]
    (store/put! s "k" "v" {:lease lease})
    (with-open [w (store/watch-prefix s "k")]
      (testing "not expired before the deadline"
        (reset! now 10999)
        (mem/expire! s)
        (is (= "v" (:value (store/get s "k")))))
      (testing "keep-alive moves the deadline"
        (is (= 10 (store/keep-alive! s lease)))
        (reset! now 20000)
        (is (= "v" (:value (store/get s "k")))))
      (testing "expired at the deadline: keys deleted, watchers told, keep-alive refused"
        ;; keep-alive at 10999 with a 10 s TTL: the deadline is 20999
        (mem/expire! s 20998)
        (is (= "v" (:value (store/get s "k"))) "expire! with an explicit time before the deadline")
        (reset! now 20999)
        (is (nil? (store/get s "k")) "expired lazily on the next call")
        (is (= [[:delete "k"]] (map (juxt :type :key) (store/read-events w 1 2000))))
        (is (thrown-with-msg? clojure.lang.ExceptionInfo #"lease not found"
                              (store/keep-alive! s lease)))))))

(deftest members-as-a-vector
  (let [s (mem/create)
        [m0] (store/members s)
        added (store/member-add! s ["http://n2:2380"] true)]
    (is (:learner? added))
    (is (= [(:id m0) (:id added)] (map :id (store/members s))))
    (is (= :shoal.store/error
           (try (store/member-add! s ["http://n2:2380"] false) nil
                (catch clojure.lang.ExceptionInfo e (store/error-type e)))))
    (is (false? (:learner? (second (store/member-promote! s (:id added))))))
    (is (= ["http://n2b:2380"]
           (:peer-urls (second (store/member-update! s (:id added) ["http://n2b:2380"])))))
    (is (= [(:id m0)] (map :id (store/member-remove! s (:id added)))))
    (is (= :shoal.store/error
           (try (store/member-remove! s (:id added)) nil
                (catch clojure.lang.ExceptionInfo e (store/error-type e)))))))

(deftest prefix-range-end
  (is (= [(int \b)] (seq (store/prefix-range-end "a"))))
  (is (= [(int \a) (int \0)] (seq (store/prefix-range-end "a/"))))
  (is (= [0] (seq (store/prefix-range-end "")))))
