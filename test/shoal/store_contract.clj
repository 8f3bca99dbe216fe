(ns shoal.store-contract
  "The contract every `shoal.store/Store` implementation passes. `(run-contract make-store)`
  is called from a deftest of each implementation's test namespace; `make-store` returns a
  store (a fresh one or a client of a shared server: every key used here lives under a random
  prefix, so runs do not see each other). The stores it makes are closed at the end."
  (:require [clojure.core.async :as a]
            [clojure.test :refer [is testing]]
            [shoal.store :as store]))

(defn- thrown-type
  "The `:type` of the ex-info `f` throws, or ::no-throw."
  [f]
  (try (f) ::no-throw
       (catch clojure.lang.ExceptionInfo e (store/error-type e))))

(defn run-contract
  "Runs the contract's `testing` blocks against stores from `make-store`."
  [make-store]
  (let [s (make-store)
        p (str "contract-" (random-uuid) "/")
        k #(str p %)]
    (try
      (testing "get of a missing key is nil"
        (is (nil? (store/get s (k "missing")))))

      (testing "put then get"
        (let [rev (store/put! s (k "a") "1")]
          (is (pos? rev))
          (is (= {:key (k "a") :value "1" :mod-revision rev :lease 0}
                 (store/get s (k "a")))))
        (testing "a second put replaces the value with a newer revision"
          (let [before (:mod-revision (store/get s (k "a")))]
            (store/put! s (k "a") "2")
            (is (= "2" (:value (store/get s (k "a")))))
            (is (< before (:mod-revision (store/get s (k "a"))))))))

      (testing "values are any string (UTF-8, EDN, empty)"
        (doseq [v ["" "héllo ✓" (pr-str {:a [1 2 "x"] :b #{:c}})]]
          (store/put! s (k "v") v)
          (is (= v (:value (store/get s (k "v")))))))

      (testing "get-prefix is sorted by key and only the prefix"
        (doseq [x ["p/c" "p/a" "p/b" "p/b/1" "q/a" "p"]]
          (store/put! s (k x) x))
        (is (= ["p/a" "p/b" "p/b/1" "p/c"]
               (map :value (store/get-prefix s (k "p/")))))
        (is (= [] (store/get-prefix s (k "nothing/"))))
        (is (every? #(contains? % :mod-revision) (store/get-prefix s (k "p/")))))

      (testing "put-if-absent! creates once only"
        (is (true? (store/put-if-absent! s (k "once") "first")))
        (is (false? (store/put-if-absent! s (k "once") "second")))
        (is (= "first" (:value (store/get s (k "once"))))))

      (testing "delete! and delete-prefix!"
        (is (true? (store/delete! s (k "once"))))
        (is (false? (store/delete! s (k "once"))))
        (is (nil? (store/get s (k "once"))))
        (is (= 4 (store/delete-prefix! s (k "p/"))))
        (is (= [] (store/get-prefix s (k "p/"))))
        (is (= "p" (:value (store/get s (k "p")))) "a key equal to the prefix minus / survives")
        (is (= 0 (store/delete-prefix! s (k "p/")))))

      (testing "leases"
        (let [lease (store/grant-lease! s 60)]
          (is (integer? lease))
          (store/put! s (k "leased") "x" {:lease lease})
          (is (= lease (:lease (store/get s (k "leased")))))
          (is (<= 1 (store/keep-alive! s lease) 60))
          (testing "revoke deletes the attached keys"
            (is (true? (store/revoke-lease! s lease)))
            (is (nil? (store/get s (k "leased")))))
          (testing "revoking again is a no-op"
            (is (false? (store/revoke-lease! s lease))))
          (testing "keep-alive of a revoked lease"
            (is (= :shoal.store/lease-not-found (thrown-type #(store/keep-alive! s lease)))))
          (testing "put with a revoked lease"
            (is (= :shoal.store/lease-not-found
                   (thrown-type #(store/put! s (k "leased") "y" {:lease lease}))))
            (is (nil? (store/get s (k "leased")))))))

      (testing "watch sees puts and deletes in order"
        (with-open [w (store/watch-prefix s (k "w/"))]
          (store/put! s (k "w/1") "a")
          (store/put! s (k "other") "not watched")
          (store/put! s (k "w/2") "b")
          (store/put! s (k "w/1") "c")
          (store/delete! s (k "w/2"))
          (let [evs (store/read-events w 4 5000)]
            (is (= [[:put (k "w/1") "a"] [:put (k "w/2") "b"] [:put (k "w/1") "c"]
                    [:delete (k "w/2") nil]]
                   (map (juxt :type :key :value) evs)))
            (is (apply < (map :revision evs)) "revisions increase"))
          (testing "delete-prefix! and lease revocation show up as deletes"
            (let [lease (store/grant-lease! s 60)]
              (store/put! s (k "w/l") "l" {:lease lease})
              (store/revoke-lease! s lease)
              (store/delete-prefix! s (k "w/"))
              (is (= [[:put (k "w/l")] [:delete (k "w/l")] [:delete (k "w/1")]]
                     (map (juxt :type :key) (store/read-events w 3 5000))))))))

      (testing "a watch from a start revision replays history"
        (let [r1 (store/put! s (k "h/1") "x")
              _ (store/put! s (k "h/2") "y")]
          (with-open [w (store/watch-prefix s (k "h/") {:start-revision r1})]
            (is (= [(k "h/1") (k "h/2")] (map :key (store/read-events w 2 5000)))))))

      (testing "closing a watch closes its channel"
        (let [w (store/watch-prefix s (k "c/"))]
          (.close ^java.io.Closeable w)
          (is (nil? (first (a/alts!! [(:ch w) (a/timeout 5000)]))))))

      (testing "status names the cluster"
        (let [st (store/status s)]
          (is (re-matches #"[0-9a-f]+" (:cluster-id st)))
          (is (re-matches #"[0-9a-f]+" (:member-id st)))
          (is (string? (:version st)))
          (is (integer? (:raft-index st)))))

      (testing "members lists at least the member answering"
        (let [ms (store/members s)
              me (:member-id (store/status s))]
          (is (some #(= me (:id %)) ms))
          (is (every? #(and (vector? (:peer-urls %)) (boolean? (:learner? %))) ms))))
      (finally
        (try (store/delete-prefix! s p) (catch Exception _))
        (store/close s)))))
