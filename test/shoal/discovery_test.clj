(ns shoal.discovery-test
  "discover and publish! over sources of every behaviour (good, failing, hanging, lying about
  their result, malformed configs), the shared address format, and a property: discover never
  throws, whatever it is given."
  (:require [clojure.test :refer [deftest is testing]]
            [clojure.test.check :as tc]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [shoal.config :as config]
            [shoal.discovery :as d]
            [shoal.test.dns-server :as dns-server]))

(defn- fixed
  "A Source answering `result` (a vector), or throwing it (an exception), or calling it (a fn)."
  [result]
  (reify d/Source
    (candidates [_ timeout-ms]
      (cond (instance? Throwable result) (throw result)
            (fn? result) (result timeout-ms)
            :else result))))

(defn- a [host port] {:host host :port port})

(deftest addresses-in-every-written-form
  (is (= (a "10.0.0.2" 7440) (d/parse-address "10.0.0.2:7440")))
  (is (= (a "n1.example" 7440) (d/parse-address "n1.example")) "a bare host gets the default port")
  (is (= (a "::1" 7441) (d/parse-address "[::1]:7441")))
  (is (= (a "fe80::1" 7440) (d/parse-address "fe80::1")) "a bare IPv6 address")
  (is (= (a "h" 9) (d/parse-address {:host "h" :port 9})))
  (is (= (a "h" 7440) (d/parse-address {:host "h"})))
  (doseq [bad ["" "h:0" "h:65536" "h:x" "a b" ":7440" {:host "h:1" :port 2} {:host "h" :port "1"}
               {:port 1} 42 nil [:h 1] "h:1:2"]]
    (is (nil? (d/parse-address bad)) (pr-str bad)))
  (is (= "[::1]:7440" (d/address-str (a "::1" 7440))))
  (is (= "h:1" (d/address-str (a "h" 1)))))

(deftest the-address-file-format
  (testing "strings, bare hosts and maps"
    (is (= [(a "10.0.0.2" 7440) (a "n2" 7440) (a "n3" 7441)]
           (d/read-addresses {} "f" "[\"10.0.0.2:7440\" \"n2\" {:host \"n3\" :port 7441}]"))))
  (testing "an empty vector is a valid, empty list"
    (is (= [] (d/read-addresses {} "f" "[] ; nobody yet"))))
  (testing "every problem names itself"
    (doseq [[text reason] [["{:a 1}" #"^f is not an EDN vector of \"host:port\", got \{:a 1\}$"]
                           ["" #"^f is not an EDN vector of \"host:port\", got nothing$"]
                           ["[\"ok:1\" 42]" #"^f is not an EDN vector of \"host:port\": bad entry 42$"]
                           ["[\"ok:1\"" #"^f is not EDN: "]
                           ["<html>" #"^f is not an EDN vector"]
                           ["#inst \"2020-01-01\"" #"^f is not EDN: tagged literal #inst is not allowed"]
                           ["[#my/tag 1]" #"^f is not EDN: tagged literal #my/tag is not allowed"]]]
      (let [e (try (d/read-addresses {:type :x} "f" text) nil (catch Exception e e))]
        (is (= ::d/source-failed (:type (ex-data e))) text)
        (is (= {:type :x} (:source (ex-data e))))
        (is (re-find reason (str (:reason (ex-data e)))) text))))
  (testing "written sorted, de-duplicated, one per line, and read back"
    (let [text (d/write-addresses [(a "n2" 1) (a "::1" 2) (a "n1" 1) (a "n2" 1)])]
      (is (= "[\"[::1]:2\"\n \"n1:1\"\n \"n2:1\"]\n" text))
      (is (= [(a "::1" 2) (a "n1" 1) (a "n2" 1)] (d/read-addresses {} "f" text))))))

(deftest building-sources
  (testing "an unknown type is a clear error listing the known ones"
    (let [e (try (d/source {:type :consul}) (catch Exception e e))]
      (is (= ::d/invalid-source (:type (ex-data e))))
      (is (re-find #"^source :consul: unknown discovery source type; known types: :dns :git .*:static :url$"
                   (ex-message e)))))
  (testing "not a map, no :type"
    (is (re-find #"must be a map" (ex-message (try (d/source "10.0.0.1") (catch Exception e e)))))
    (is (re-find #"needs a :type" (ex-message (try (d/source {}) (catch Exception e e))))))
  (testing "built-in kinds load on first use"
    (is (satisfies? d/Source (d/source {:type :static :addresses []})))
    (is (satisfies? d/Source (d/source {:type :url :url "http://127.0.0.1:1/x"})))
    (is (satisfies? d/Source (d/source {:type :dns :name "shoal" :port 7440})))
    (is (satisfies? d/Source (d/source {:type :git :repo "/srv/x.git" :path "p.edn" :ref "main"}))))
  (testing "a malformed map of a known kind"
    (doseq [cfg [{:type :static :addresses "10.0.0.1"}
                 {:type :static :addresses ["10.0.0.1:0"]}
                 {:type :url :url "ftp://x/y"}
                 {:type :url}
                 {:type :dns :name "bad name"}
                 {:type :dns :name "shoal" :port 0}
                 {:type :dns :name "shoal" :server "not a server!"}
                 {:type :git :repo "--upload-pack=touch /tmp/x" :path "p.edn"}
                 {:type :git :repo "/r" :path "../../etc/passwd"}
                 {:type :git :repo "/r" :path "/etc/passwd"}
                 {:type :git :repo "/r" :path "p.edn" :ref "-x"}]]
      (let [e (try (d/source cfg) nil (catch Exception e e))]
        (is (= ::d/invalid-source (:type (ex-data e))) (pr-str cfg))
        (is (= cfg (:source (ex-data e))))))))

(deftest discover-keeps-source-order-and-removes-duplicates
  (let [r (d/discover [(fixed [(a "n2" 1) (a "n1" 1)])
                       {:type :static :addresses [(a "n1" 1) (a "n3" 1)]}
                       (fixed [])
                       (fixed [(a "n2" 1) (a "n4" 1)])]
                      1000)]
    (is (= [(a "n2" 1) (a "n1" 1) (a "n3" 1) (a "n4" 1)] (:candidates r)))
    (is (= [] (:errors r)))))

(deftest discover-skips-bad-sources-with-their-reasons
  (let [boom (fixed (d/failed {:type :x} "x: HTTP 500"))
        bug (fixed (RuntimeException. "oops"))
        liar (fixed [(a "n9" 1) 42])
        r (d/discover [{:type :static :addresses [(a "n1" 1)]}
                       boom
                       {:type :nope}
                       bug
                       "not even a map"
                       liar
                       {:type :static :addresses [(a "n2" 1)]}]
                      1000)]
    (is (= [(a "n1" 1) (a "n2" 1)] (:candidates r)))
    (is (= [boom {:type :nope} bug "not even a map" liar] (map :source (:errors r))))
    (is (= "x: HTTP 500" (:reason (first (:errors r)))))
    (is (re-find #"unknown discovery source type" (:reason (nth (:errors r) 1))))
    (is (re-find #"^source #object.*: oops$" (:reason (nth (:errors r) 2))))
    (is (re-find #"must be a map" (:reason (nth (:errors r) 3))))
    (is (re-find #"not a vector of \{:host :port\}" (:reason (nth (:errors r) 4))))))

(deftest a-hanging-source-is-abandoned-at-its-timeout
  (let [interrupted (promise)
        hang (fixed (fn [_]
                      (try (Thread/sleep 30000)
                           (catch InterruptedException _ (deliver interrupted true)))
                      [(a "late" 1)]))
        t0 (System/currentTimeMillis)
        r (d/discover [{:type :static :addresses [(a "n1" 1)]} hang (fixed [(a "n2" 1)])] 300)
        took (- (System/currentTimeMillis) t0)]
    (is (= [(a "n1" 1) (a "n2" 1)] (:candidates r)))
    (is (= [hang] (map :source (:errors r))))
    (is (re-find #"timed out after 300 ms" (:reason (first (:errors r)))))
    (is (< took 2000) "the sources run at once: one hang costs one timeout")
    (is (true? (deref interrupted 2000 false)) "its thread is interrupted")))

(deftest sources-are-asked-at-the-same-time
  (let [slow (fixed (fn [_] (Thread/sleep 200) [(a "n" 1)]))
        t0 (System/currentTimeMillis)
        r (d/discover (repeat 5 slow) 1000)]
    (is (= [(a "n" 1)] (:candidates r)))
    (is (< (- (System/currentTimeMillis) t0) 900))))

(deftest discover-takes-the-conformed-config
  (let [srv (dns-server/start! {"peers.test." {:a ["10.1.0.1"]}})]
    (try
      (let [cfg (config/conform-node-config
                 {:data-dir "d" :ca {:cert "c" :key "k"}
                  :discovery {:sources [{:type :static :addresses ["10.0.0.2:7440" "10.0.0.3:7441"]}
                                        {:type :dns :name "peers.test" :port 7442}]
                              :timeout "1s"}})
            {:keys [sources timeout]} (:discovery cfg)
            ;; until node.edn's :dns accepts :server, tests add it to the conformed map
            sources (update sources 1 assoc :server (:server srv))]
        (is (= {:candidates [(a "10.0.0.2" 7440) (a "10.0.0.3" 7441) (a "10.1.0.1" 7442)] :errors []}
               (d/discover sources timeout))))
      (finally ((:stop srv))))))

(deftest discover-never-throws-on-odd-arguments
  (doseq [[sources timeout] [[nil 100] [[] nil] [{:type :static :addresses []} -1] [42 "x"]
                             [[nil] 100] [(list {:type :static :addresses [(a "n" 1)]}) 100]]]
    (let [r (d/discover sources timeout)]
      (is (vector? (:candidates r)) (pr-str sources))
      (is (vector? (:errors r)))))
  (is (= [(a "n" 1)] (:candidates (d/discover (list {:type :static :addresses [(a "n" 1)]}) 100)))))

;; A kind of source defined outside shoal, as a cluster repo's namespace would: it records what
;; it is asked to publish and answers what its config says.
(def ^:private published (atom []))

(defmethod d/source ::fake [{:keys [result] :as cfg}]
  (reify
    d/Source (candidates [_ _] [])
    d/Publish (publish [_ addr _]
                (swap! published conj [(:id cfg) addr])
                (if (string? result) (throw (d/failed cfg result)) result))))

(deftest publish-goes-only-where-asked-and-never-throws
  (reset! published [])
  (let [changed {:type ::fake :id 1 :result true :publish true}
        same {:type ::fake :id 2 :result false :publish true}
        broken {:type ::fake :id 3 :result "fake: push failed" :publish true}
        quiet {:type ::fake :id 4 :result true :publish false}
        static {:type :static :addresses [] :publish true}
        r (d/publish! [changed same broken quiet static {:type :nope :publish true}] "10.0.0.5:7440")]
    (is (= [changed] (:published r)))
    (is (= [same] (:unchanged r)))
    (is (= [[broken "fake: push failed"]
            [static "static: this kind of source cannot be published to"]]
           (map (juxt :source :reason) (take 2 (:errors r)))))
    (is (re-find #"unknown discovery source type" (:reason (nth (:errors r) 2))))
    (is (= #{[1 (a "10.0.0.5" 7440)] [2 (a "10.0.0.5" 7440)] [3 (a "10.0.0.5" 7440)]} (set @published))
        "a :publish false source is left alone; the address is given as {:host :port}")
    (testing "a bad own address is an error, not a throw"
      (let [r (d/publish! [changed] "not an address!")]
        (is (re-find #"cannot publish \"not an address!\"" (:reason (first (:errors r)))))))
    (testing "odd arguments"
      (is (= {:published [] :unchanged [] :errors []} (d/publish! nil nil)))
      (is (= [] (:published (d/publish! 42 {:host 1})))))))

;;; never throws, whatever the sources look like

(def ^:private gen-value
  (gen/one-of [gen/small-integer gen/string-alphanumeric gen/keyword gen/boolean (gen/return nil)
               (gen/vector gen/string-alphanumeric 0 3)
               (gen/vector (gen/hash-map :host gen/string-alphanumeric :port gen/small-integer) 0 3)]))

(def ^:private gen-address
  (gen/let [host (gen/elements ["10.0.0.1" "n1" "::1" "n2.example"])
            port (gen/choose 1 65535)]
    (gen/elements [{:host host :port port} (d/address-str {:host host :port port}) host])))

(defn- gen-well-formed
  "Sources that build, so that discover runs them too."
  [dns-server]
  (gen/one-of
   [(gen/let [as (gen/vector gen-address 0 4)] {:type :static :addresses as})
    (gen/let [n (gen/elements ["peers.test" "nx.test" "PEERS.test."]) p (gen/choose 1 65535)]
      {:type :dns :name n :port p :server dns-server})
    (gen/let [p gen/string-alphanumeric] {:type :url :url (str "http://127.0.0.1:1/" p)})
    (gen/let [r gen/string-alphanumeric] {:type :git :repo (str "/nonexistent/" r) :path "peers.edn"
                                          :ref "main"})]))

(defn- gen-source
  "Source maps of every shape. Nothing they name may leave the machine: :dns ones ask the test's
  DNS server, :url ones a closed loopback port, :git ones a local path."
  [dns-server]
  (gen/let [t (gen/elements [:static :url :dns :git :consul nil "static" 7])
            m (gen/map (gen/elements [:addresses :url :name :port :repo :path :ref :publish :server :x])
                       gen-value)
            good (gen-well-formed dns-server)
            not-a-map gen-value
            shape (gen/frequency [[4 (gen/return :random)] [4 (gen/return :good)]
                                  [2 (gen/return :good+)] [1 (gen/return :other)]])]
    (case shape
      :other not-a-map
      :good good
      :good+ (merge m good)
      :random (cond-> (assoc m :type t)
                (= :dns t) (assoc :server dns-server)
                (and (= :url t) (string? (:url m))) (assoc :url (str "http://127.0.0.1:1/" (:url m)))
                (and (= :git t) (some? (:repo m))) (assoc :repo (str "/nonexistent/" (:repo m)))))))

(deftest discover-never-throws
  (let [srv (dns-server/start! {"peers.test." {:a ["10.1.0.1"]}})]
    (try
      (let [r (tc/quick-check
               40
               (prop/for-all [sources (gen/vector (gen-source (:server srv)) 0 5)]
                 (let [r (d/discover sources 300)]
                   (and (vector? (:candidates r))
                        (every? d/parse-address (:candidates r))
                        (vector? (:errors r))
                        (every? (fn [{:keys [source reason]}]
                                  (and (some #(identical? source %) sources) (string? reason)))
                                (:errors r))
                        (<= (count (:errors r)) (count sources))))))]
        (is (:pass? r) (pr-str (:shrunk r))))
      (finally ((:stop srv))))))
