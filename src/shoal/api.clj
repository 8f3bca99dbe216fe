(ns shoal.api
  "The node's HTTP API, as data: routes are plain functions from a request map to a response map,
  so they are tested without sockets and served by any transport (`shoal.api.https`).

  Request: `{:method :get :path \"/v1/status\" :client {:subject s :issuer s}}` (the client
  certificate's subject and issuer; the TLS layer has already checked it).
  Response: `{:status 200 :body data}`; the transport encodes `:body` as JSON."
  (:require [shoal.membership :as membership]
            [shoal.events :as events]))

(defn- not-found [{:keys [method path]}]
  {:status 404 :body {:error "not-found" :message (str "no route for " (name method) " " path)}})

(defn handle
  "Answers `request` using the started components in `deps` (`:membership`, `:events`)."
  [{:keys [membership] :as deps} {:keys [method path] :as request}]
  (case [method path]
    [:get "/v1/status"] {:status 200 :body (membership/status membership)}
    [:get "/v1/cluster"] {:status 200 :body (membership/cluster-info membership)}
    [:get "/v1/events"] {:status 200 :body {:events (events/recent (:events deps) 200)}}
    (not-found request)))
