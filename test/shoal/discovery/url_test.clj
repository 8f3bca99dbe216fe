(ns shoal.discovery.url-test
  "The :url source against the JDK's HTTP server on loopback: a good file, a 404, bodies that are
  not address files, a server that never answers, and a connection refused."
  (:require [clojure.test :refer [deftest is testing]]
            [shoal.discovery :as d])
  (:import (com.sun.net.httpserver HttpHandler HttpServer)
           (java.net InetAddress InetSocketAddress ServerSocket)
           (java.nio.charset StandardCharsets)))

(defn- serve!
  "An HTTP server on 127.0.0.1 answering {path [status body]}; unknown paths get 404."
  [routes]
  (let [srv (HttpServer/create (InetSocketAddress. (InetAddress/getByName "127.0.0.1") 0) 0)]
    (.createContext srv "/"
                    (reify HttpHandler
                      (handle [_ ex]
                        (let [[status body] (get routes (.getPath (.getRequestURI ex)) [404 "not found"])
                              bytes (.getBytes ^String body StandardCharsets/UTF_8)]
                          (.sendResponseHeaders ex status (alength bytes))
                          (with-open [out (.getResponseBody ex)] (.write out bytes))))))
    (.start srv)
    srv))

(defmacro ^:private with-server [[url routes] & body]
  `(let [srv# (serve! ~routes)
         ~url (fn [path#] (str "http://127.0.0.1:" (.getPort (.getAddress srv#)) path#))]
     (try ~@body (finally (.stop srv# 0)))))

(defn- failure [url timeout-ms]
  (try (d/candidates (d/source {:type :url :url url}) timeout-ms) nil
       (catch clojure.lang.ExceptionInfo e
         (is (= ::d/source-failed (:type (ex-data e))))
         (is (= {:type :url :url url} (:source (ex-data e))))
         (:reason (ex-data e)))))

(deftest reads-an-address-file
  (with-server [url {"/peers.edn" [200 "[\"10.0.0.2:7440\" \"n2\" {:host \"n3\" :port 7441}]"]
                     "/empty.edn" [200 "[]\n"]}]
    (is (= [{:host "10.0.0.2" :port 7440} {:host "n2" :port 7440} {:host "n3" :port 7441}]
           (d/candidates (d/source {:type :url :url (url "/peers.edn")}) 1000)))
    (is (= [] (d/candidates (d/source {:type :url :url (url "/empty.edn")}) 1000)))))

(deftest names-what-was-wrong
  (with-server [url {"/html" [200 "<html>hello</html>"]
                     "/map" [200 "{:peers [\"n1:1\"]}"]
                     "/bad-entry" [200 "[\"n1:1\" :n2]"]
                     "/tagged" [200 "[#=(java.lang.System/exit 1)]"]
                     "/oops" [500 "[\"n1:1\"]"]
                     "/two" [200 "[\"n1:1\"] [\"n2:1\"]"]}]
    (is (= (str "url " (url "/missing") ": HTTP 404") (failure (url "/missing") 1000)))
    (is (= (str "url " (url "/oops") ": HTTP 500") (failure (url "/oops") 1000)))
    (is (= (str "url " (url "/html") ": body is not an EDN vector of \"host:port\", got <html>hello</html>")
           (failure (url "/html") 1000)))
    (is (= (str "url " (url "/map") ": body is not an EDN vector of \"host:port\", got {:peers [\"n1:1\"]}")
           (failure (url "/map") 1000)))
    (is (= (str "url " (url "/bad-entry") ": body is not an EDN vector of \"host:port\": bad entry :n2")
           (failure (url "/bad-entry") 1000)))
    (is (re-find #": body is not EDN: " (failure (url "/tagged") 1000)) "nothing is evaluated")
    (is (= (str "url " (url "/two") ": body is not an EDN vector of \"host:port\": more follows the first form")
           (failure (url "/two") 1000)))))

(deftest a-connection-refused
  (let [port (with-open [s (ServerSocket. 0 1 (InetAddress/getByName "127.0.0.1"))] (.getLocalPort s))
        url (str "http://127.0.0.1:" port "/peers.edn")]
    (is (re-find #"^url http://127\.0\.0\.1:\d+/peers\.edn: cannot connect" (failure url 1000)))))

(deftest a-server-that-never-answers
  ;; the kernel accepts the connection into the backlog; nobody ever reads the request
  (with-open [silent (ServerSocket. 0 50 (InetAddress/getByName "127.0.0.1"))]
    (let [url (str "http://127.0.0.1:" (.getLocalPort silent) "/peers.edn")]
      (testing "the source's own timeout"
        (let [t0 (System/currentTimeMillis)]
          (is (= (str "url " url ": timed out after 300 ms") (failure url 300)))
          (is (< (- (System/currentTimeMillis) t0) 1500))))
      (testing "discover still returns the other sources' candidates"
        (with-server [good {"/peers.edn" [200 "[\"n2:1\"]"]}]
          (let [t0 (System/currentTimeMillis)
                r (d/discover [{:type :static :addresses [{:host "n1" :port 1}]}
                               {:type :url :url url}
                               {:type :url :url (good "/peers.edn")}]
                              400)]
            (is (= [{:host "n1" :port 1} {:host "n2" :port 1}] (:candidates r)))
            (is (= [{:source {:type :url :url url} :reason (str "url " url ": timed out after 400 ms")}]
                   (:errors r)))
            (is (< (- (System/currentTimeMillis) t0) 1500))))))))

(deftest only-http-urls
  (doseq [u ["ftp://h/p" "file:///etc/passwd" "http://" "not a url" nil 42]]
    (is (= ::d/invalid-source
           (:type (ex-data (try (d/source {:type :url :url u}) nil (catch Exception e e)))))
        (pr-str u))))
