(ns shoal.discovery.url
  "The `:url` discovery source: `{:type :url :url \"https://…/peers.edn\"}`. A GET of the URL
  (with the JDK's java.net.http, redirects followed, the JDK's trusted CAs for https) whose body
  is the address file of `shoal.discovery/read-addresses`:

      [\"10.0.0.2:7440\" \"10.0.0.3\" {:host \"n4.example\" :port 7441}]

  e.g. a raw file in a public GitHub repo. Anything but a 200 with such a body fails the source
  with a reason naming the problem: `url http://…: HTTP 404`,
  `url http://…: body is not an EDN vector of \"host:port\", got {:a 1}`."
  (:require [clojure.string :as str]
            [shoal.discovery :as d])
  (:import (java.net ConnectException URI)
           (java.net.http HttpClient HttpClient$Redirect HttpRequest HttpResponse
                          HttpResponse$BodyHandlers HttpTimeoutException)
           (java.nio.charset StandardCharsets)
           (java.time Duration)))

(def ^:private max-body
  "Bytes of body read at most: an address list is small, and a wrong URL may be a large page."
  (* 1024 1024))

(defn- reason [^Throwable e]
  (cond
    (instance? HttpTimeoutException e) "timed out"
    (instance? ConnectException e) (str "cannot connect" (some->> (ex-message e) (str ": ")))
    (instance? InterruptedException e) "interrupted"
    :else (str (.getSimpleName (class e)) (some->> (ex-message e) (str ": ")))))

(defn- fetch
  "The body of a 200 answer, as a string; throws source-failed otherwise."
  [{:keys [cfg url ^HttpClient client]} timeout-ms]
  (let [what (str "url " url)
        req (-> (HttpRequest/newBuilder (URI. url))
                (.timeout (Duration/ofMillis (max 1 timeout-ms)))
                (.header "Accept" "application/edn, text/plain, */*")
                (.GET)
                (.build))
        ^HttpResponse resp (try (.send client req (HttpResponse$BodyHandlers/ofInputStream))
                                (catch HttpTimeoutException e
                                  (throw (d/failed cfg (str what ": timed out after " timeout-ms " ms") e)))
                                (catch InterruptedException e
                                  (.interrupt (Thread/currentThread))
                                  (throw (d/failed cfg (str what ": interrupted") e)))
                                (catch Exception e
                                  (throw (d/failed cfg (str what ": " (reason e)) e))))]
    (with-open [in ^java.io.InputStream (.body resp)]
      (when-not (= 200 (.statusCode resp))
        (throw (d/failed cfg (str what ": HTTP " (.statusCode resp)))))
      (let [^bytes bytes (try (.readNBytes in (inc max-body))
                       (catch Exception e
                         (throw (d/failed cfg (str what ": reading the body: " (reason e)) e))))]
        (when (> (alength bytes) max-body)
          (throw (d/failed cfg (str what ": body is larger than " max-body " bytes"))))
        (String. bytes StandardCharsets/UTF_8)))))

(defrecord Url [cfg url client]
  d/Source
  (candidates [this timeout-ms]
    (d/read-addresses cfg (str "url " url ": body") (fetch this timeout-ms))))

(defn- http-url? [x]
  (try (let [u (URI. x)]
         (boolean (and (#{"http" "https"} (str/lower-case (str (.getScheme u))))
                       (not (str/blank? (.getHost u))))))
       (catch Exception _ false)))

(defmethod d/source :url [{:keys [url] :as cfg}]
  (when-not (and (string? url) (http-url? url))
    (throw (d/invalid cfg (str "url: :url must be an http or https URL, got " (d/show url)))))
  ;; The connect timeout is a ceiling; each request also carries the caller's timeout.
  (->Url cfg url (-> (HttpClient/newBuilder)
                     (.followRedirects HttpClient$Redirect/NORMAL)
                     (.connectTimeout (Duration/ofSeconds 10))
                     (.build))))
