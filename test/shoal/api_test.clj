(ns shoal.api-test
  (:require [clojure.test :refer [deftest is]]
            [shoal.api :as api]
            [shoal.events :as events]
            [shoal.events.mem :as events.mem]
            [shoal.membership :as m]))

(def ^:private fake-membership
  (reify m/Membership
    (status [_] {:node-id "n1" :cluster-id "c1"})
    (node-id [_] "n1")
    (cluster-info [_] {:node-id "n1" :phase :member})))

(deftest routes
  (let [evs (events.mem/start {} {})
        deps {:membership fake-membership :events evs}]
    (events/event! evs :shoal/originated {:node "n1"})
    (is (= {:status 200 :body {:node-id "n1" :cluster-id "c1"}}
           (api/handle deps {:method :get :path "/v1/status"})))
    (is (= [:shoal/originated] (map :type (:events (:body (api/handle deps {:method :get :path "/v1/events"}))))))
    (is (= {:node-id "n1" :phase :member} (:body (api/handle deps {:method :get :path "/v1/cluster"}))))
    (is (= 404 (:status (api/handle deps {:method :post :path "/v1/status"}))))
    (is (= "no route for get /nope" (get-in (api/handle deps {:method :get :path "/nope"}) [:body :message])))))
