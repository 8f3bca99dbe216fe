(ns shoal.config-test
  "Unit tests of shoal.config: the example files, defaults and conversions, the exact error line for
  each kind of bad config, and properties (conversions are right; validation never crashes)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [clojure.test.check.clojure-test :refer [defspec]]
            [clojure.test.check.generators :as gen]
            [clojure.test.check.properties :as prop]
            [shoal.config :as config])
  (:import (clojure.lang ExceptionInfo)
           (java.nio.file Files)
           (java.nio.file.attribute FileAttribute)))

(def ^:private min-node
  {:data-dir "/var/lib/shoal" :ca {:cert "ca.crt" :key "ca.key"}})

(def ^:private min-cluster
  {:name "demo" :apps {:web {:image "web:1"}}})

(defn- node-edn
  "min-node with each [path value] assoc-in'd, printed as EDN."
  [& path-values]
  (pr-str (reduce (fn [m [path v]] (assoc-in m path v)) min-node (partition 2 path-values))))

(defn- cluster-edn [& path-values]
  (pr-str (reduce (fn [m [path v]] (assoc-in m path v)) min-cluster (partition 2 path-values))))

(defn- failure
  "The ex-data of what (f) throws, with its message as :lines; nil when it returns."
  [f]
  (try (f) nil
       (catch ExceptionInfo e
         (assoc (ex-data e) :lines (str/split-lines (ex-message e))))))

(defn- node-errors [text] (failure #(config/parse-node-config text "node.edn")))
(defn- cluster-errors [text] (failure #(config/parse-cluster-config text "cluster.edn")))

;;; Good configs

(deftest example-node-config
  (let [c (config/read-node-config "examples/node.edn")]
    (is (= "data/node" (:data-dir c)))
    (is (= {:cert "secrets/cluster-ca.crt" :key "secrets/cluster-ca.key"
            :operator-cert "secrets/operator-ca.crt"}
           (:ca c)))
    (is (= {:api {:host "0.0.0.0" :port 7440}
            :etcd-client {:host "0.0.0.0" :port 2379}
            :etcd-peer {:host "0.0.0.0" :port 2380}}
           (:listen c)))
    (is (= {:lifetime (* 90 24 3600 1000)} (:cert c)))
    (is (= {:ttl 10000} (:lease c)))
    (is (= {:sources [] :timeout 2000 :stable-for 3000 :contacts 1}
           (:discovery c)))
    (is (= {:zone "a"} (:labels c)))))

(deftest the-image-node-config
  (let [c (config/read-node-config "image/node.edn")]
    (is (= "/var/lib/shoal" (:data-dir c)))
    (is (= [{:type :dns :name "shoal" :port 7440}] (get-in c [:discovery :sources])))))

(deftest example-cluster-config
  (let [c (config/read-cluster-config "examples")]   ; a directory means its cluster.edn
    (is (= "demo" (:name c)))
    (is (= 1 (:min-nodes c)))
    (is (= {:image "shoal-example-web:1" :replicas 2 :per-node false :hubs-only false
            :env {"GREETING" "hello from shoal"}
            :ports [{:container 8080 :service 80}]
            :resources {:cpu 0.25 :memory (* 64 1024 1024)}}
           (get-in c [:apps :web])))
    (is (= {:policy :recover :after 300000} (get-in c [:hubs :quorum-loss])))))

(deftest node-defaults
  (is (= {:data-dir "/var/lib/shoal"
          :ca {:cert "ca.crt" :key "ca.key"}
          :listen {:api {:host "0.0.0.0" :port 7440}
                   :etcd-client {:host "0.0.0.0" :port 2379}
                   :etcd-peer {:host "0.0.0.0" :port 2380}}
          :labels {}
          :cert {:lifetime 7776000000}
          :lease {:ttl 10000}
          :etcd {:binary "/usr/bin/etcd"}
          :discovery {:sources [] :timeout 2000 :stable-for 3000 :contacts 1}
          :system {}}
         (config/parse-node-config (pr-str min-node) "node.edn"))))

(deftest cluster-defaults
  (is (= {:name "demo"
          :min-nodes 1
          :below-min :pause
          :namespaces []
          :hubs {:max 5 :score 'shoal.hubs/default-score :hysteresis 0.2
                 :quorum-loss {:policy :wait}}
          :apps {:web {:image "web:1" :replicas 1 :per-node false :hubs-only false}}}
         (config/parse-cluster-config (pr-str min-cluster) "cluster.edn"))))

(deftest conversions-and-nested-defaults
  (let [c (config/parse-node-config
           (node-edn [:listen :api] "[::1]:7441"
                     [:discovery :sources] [{:type :static :addresses ["10.0.0.2:7440" "peer-b:1"]}
                                            {:type :git :repo "/srv/peers.git" :path "peers.edn"}
                                            {:type :url :url "https://example.com/peers.edn"}]
                     [:discovery :timeout] "500ms"
                     [:cluster-repo] {:path "/srv/cluster"}
                     [:system] {:runtime {:impl :sim :nodes 100}}))]
    (is (= {:host "::1" :port 7441} (get-in c [:listen :api])))
    (is (= {:host "0.0.0.0" :port 2379} (get-in c [:listen :etcd-client])))
    (is (= [{:type :static :addresses [{:host "10.0.0.2" :port 7440} {:host "peer-b" :port 1}]}
            {:type :git :repo "/srv/peers.git" :path "peers.edn" :ref "main" :publish false}
            {:type :url :url "https://example.com/peers.edn"}]
           (get-in c [:discovery :sources])))
    (is (= 500 (get-in c [:discovery :timeout])))
    (is (= {:path "/srv/cluster" :ref "main"} (:cluster-repo c)))
    (is (= {:runtime {:impl :sim :nodes 100}} (:system c))))
  (let [c (config/parse-cluster-config
           (cluster-edn [:apps :agent] {:build {:git "https://example.com/agent.git"} :per-node true
                                        :resources {:memory "512k"}}
                        [:apps :db] {:image "db:1" :hubs-only true :resources {:memory "2G"}}
                        [:hubs :quorum-loss] {:policy :recover :after "2h"}))]
    (is (= {:build {:git "https://example.com/agent.git" :ref "main" :dockerfile "Dockerfile"}
            :per-node true :hubs-only false :resources {:memory 524288}}
           (get-in c [:apps :agent]))
        "a :per-node app gets no :replicas")
    (is (= (* 2 1024 1024 1024) (get-in c [:apps :db :resources :memory])))
    (is (= 7200000 (get-in c [:hubs :quorum-loss :after])))))

;;; Bad configs: each asserts the exact line an operator reads.

(deftest wrong-type
  (let [{:keys [type file errors lines]} (cluster-errors (cluster-edn [:apps :web :replicas] "3"))]
    (is (= ::config/invalid type))
    (is (= "cluster.edn" file))
    (is (= [{:path [:apps :web :replicas] :message "must be a positive integer, got \"3\""}] errors))
    (is (= ["cluster.edn [:apps :web :replicas]: must be a positive integer, got \"3\""] lines))))

(deftest port-out-of-range
  (is (= ["node.edn [:listen :api]: must be \"host:port\" with a port in 1..65535, got \"0.0.0.0:70000\""]
         (:lines (node-errors (node-edn [:listen :api] "0.0.0.0:70000")))))
  (is (= ["cluster.edn [:apps :web :ports 0 :container]: must be a port number in 1..65535, got 0"]
         (:lines (cluster-errors (cluster-edn [:apps :web :ports] [{:container 0}]))))))

(deftest bad-duration
  (is (= ["node.edn [:discovery :timeout]: must be a duration like \"10s\", got 10"]
         (:lines (node-errors (node-edn [:discovery :timeout] 10)))))
  (is (= ["node.edn [:cert :lifetime]: must be a duration like \"10s\", got \"90 days\""]
         (:lines (node-errors (node-edn [:cert :lifetime] "90 days")))))
  (is (= ["node.edn [:lease :ttl]: must be a duration of at least 2s, got \"1500ms\""]
         (:lines (node-errors (node-edn [:lease :ttl] "1500ms"))))
      "the value shown is the one written, not the converted milliseconds"))

(deftest bad-host-and-url
  (is (= {:host "fe80::1" :port 7440} (get-in (config/parse-node-config (node-edn [:listen :api] "[fe80::1]:7440"))
                                           [:listen :api])))
  (is (= "fe80::1" (:advertise (config/parse-node-config (node-edn [:advertise] "fe80::1")))))
  (is (= ["node.edn [:advertise]: must be a host name or IP address, got \"10.0.0.5:7440\""]
         (:lines (node-errors (node-edn [:advertise] "10.0.0.5:7440")))))
  (is (= ["node.edn [:discovery :sources 0 :url]: must be an http or https URL, got \"raw.githubusercontent.com/o/r/main/peers.edn\""]
         (:lines (node-errors (node-edn [:discovery :sources]
                                        [{:type :url :url "raw.githubusercontent.com/o/r/main/peers.edn"}]))))))

(deftest bad-size
  (is (= ["cluster.edn [:apps :web :resources :memory]: must be a size like \"256M\", got \"256MB\""]
         (:lines (cluster-errors (cluster-edn [:apps :web :resources :memory] "256MB"))))))

(deftest unknown-top-level-key
  (is (= ["cluster.edn [:min-node]: unknown key; expected one of :name :min-nodes :below-min :namespaces :hubs :apps"]
         (:lines (cluster-errors (cluster-edn [:min-node] 2))))))

(deftest unknown-nested-key
  (is (= ["node.edn [:discovery :sourcs]: unknown key; expected one of :sources :timeout :stable-for :contacts"]
         (:lines (node-errors (node-edn [:discovery :sourcs] []))))))

(deftest unknown-source-type
  (is (= ["node.edn [:discovery :sources 0 :type]: must be one of :dns :git :static :url, got :consul"]
         (:lines (node-errors (node-edn [:discovery :sources] [{:type :consul :service "shoal"}])))))
  (is (= ["node.edn [:discovery :sources 0 :type]: is required; one of :dns :git :static :url"]
         (:lines (node-errors (node-edn [:discovery :sources] [{:name "shoal"}]))))))

(deftest unknown-key-inside-source
  (is (= ["node.edn [:discovery :sources 1 :prot]: unknown key; expected one of :type :name :port :server"]
         (:lines (node-errors (node-edn [:discovery :sources] [{:type :static :addresses []}
                                                                {:type :dns :name "shoal" :prot 7440}]))))))

(deftest missing-required-keys
  (is (= ["cluster.edn [:name]: is required"]
         (:lines (cluster-errors (pr-str (dissoc min-cluster :name))))))
  (is (= ["node.edn [:ca :key]: is required"
          "node.edn [:data-dir]: is required"]
         (:lines (node-errors (pr-str {:ca {:cert "ca.crt"}}))))))

(deftest image-and-build
  (is (= ["cluster.edn [:apps :web]: must have exactly one of :image or :build, got {:image \"web:1\", :build {:git \"/srv/web.git\"}}"]
         (:lines (cluster-errors (cluster-edn [:apps :web :build] {:git "/srv/web.git"}))))))

(deftest neither-image-nor-build
  (is (= ["cluster.edn [:apps :web]: must have exactly one of :image or :build, got {}"]
         (:lines (cluster-errors (cluster-edn [:apps :web] {:replicas 2}))))))

(deftest replicas-with-per-node
  (is (= ["cluster.edn [:apps :web]: must not have :replicas when :per-node is true, got {:replicas 2, :per-node true}"]
         (:lines (cluster-errors (cluster-edn [:apps :web] {:image "web:1" :replicas 2 :per-node true}))))))

(deftest bad-app-name
  (is (= ["cluster.edn [:apps :Web_1]: app names must be keywords of a-z, 0-9 and -, got :Web_1"]
         (:lines (cluster-errors (cluster-edn [:apps] {:Web_1 {:image "web:1"}})))))
  (is (= ["cluster.edn [:apps \"web\"]: app names must be keywords of a-z, 0-9 and -, got \"web\""]
         (:lines (cluster-errors (cluster-edn [:apps] {"web" {:image "web:1"}}))))))

(deftest recover-without-after
  (is (= ["cluster.edn [:hubs :quorum-loss :after]: is required"]
         (:lines (cluster-errors (cluster-edn [:hubs :quorum-loss] {:policy :recover})))))
  (is (= ["cluster.edn [:hubs :quorum-loss :after]: unknown key; expected one of :policy"]
         (:lines (cluster-errors (cluster-edn [:hubs :quorum-loss] {:policy :wait :after "5m"}))))))

(deftest component-without-impl
  (is (= ["node.edn [:system :runtime :impl]: is required"
          "node.edn [:system :store :impl]: must be a keyword or a qualified symbol, got \"etcd\""]
         (:lines (node-errors (node-edn [:system] {:runtime {:socket "/run/docker.sock"}
                                                   :store {:impl "etcd"}}))))))

(deftest not-a-map
  (is (= ["cluster.edn []: must be a map, got [:name \"demo\"]"]
         (:lines (cluster-errors "[:name \"demo\"]"))))
  (is (= ["cluster.edn []: must be a map, got nil"]
         (:lines (cluster-errors ";; nothing but a comment\n"))))
  (is (= ["node.edn [:discovery]: must be a map, got [{:type :static}]"]
         (:lines (node-errors (node-edn [:discovery] [{:type :static}]))))))

(deftest several-errors-sorted
  (let [{:keys [errors lines]}
        (cluster-errors (pr-str {:name "Demo"
                                 :below-min :halt
                                 :hubs {:max 4 :hysteresis 1}
                                 :apps {:web {:image "" :replicas 0}
                                        :api {:image "api:1" :env {"PORT" 8080}}}}))]
    (is (= ["cluster.edn [:apps :api :env \"PORT\"]: must be a string, got 8080"
            "cluster.edn [:apps :web :image]: must be a non-blank string, got \"\""
            "cluster.edn [:apps :web :replicas]: must be a positive integer, got 0"
            "cluster.edn [:below-min]: must be one of :pause :stop :keep, got :halt"
            "cluster.edn [:hubs :hysteresis]: must be a number in [0, 1), got 1"
            "cluster.edn [:hubs :max]: must be one of 1 3 5 7, got 4"
            "cluster.edn [:name]: must be 1 to 63 characters of a-z, 0-9 and -, got \"Demo\""]
           lines))
    (is (= (map :path errors) (sort-by pr-str (map :path errors))))))

(deftest unreadable-edn
  (let [{:keys [type file line column lines]}
        (cluster-errors "{:name \"demo\"\n :apps {:web {:image \"web:1\"}}\n :hubs {:max 5]}")]
    (is (= ::config/unreadable type))
    (is (= ["cluster.edn" 3 15] [file line column]))
    (is (= ["cluster.edn line 3, column 15: unreadable EDN: Unmatched delimiter: ]"] lines)))
  (is (= ["node.edn line 2, column 35: unreadable EDN: tagged literal #inst is not allowed in config files"]
         (:lines (node-errors "{:data-dir \"d\"\n :labels {:since #inst \"2024-01-01\"}}"))))
  (is (= ["node.edn line 1, column 11: unreadable EDN: tagged literal #env is not allowed in config files"]
         (:lines (node-errors "#env \"HOME\""))))
  (is (= ::config/unreadable (:type (node-errors "{:data-dir \"d\"} {:data-dir \"e\"}")))
      "one file, one map"))

(deftest missing-file
  (let [dir (Files/createTempDirectory "shoal-config" (make-array FileAttribute 0))
        path (str (io/file (str dir) "node.edn"))
        {:keys [type file lines] :as data} (failure #(config/read-node-config path))]
    (is (= ::config/missing type))
    (is (= "node.edn" file))
    (is (= path (:path data)))
    (is (= [(str "node.edn: not found at " path)] lines))
    (is (= ::config/missing (:type (failure #(config/read-cluster-config (str dir))))))
    (is (str/starts-with? (config/explain-str (ex-info "x" data)) "x"))
    (is (nil? (config/explain-str (ex-info "other" {:type :other}))))
    (Files/delete dir)))

(deftest file-names-come-from-the-path
  (let [dir (Files/createTempDirectory "shoal-config" (make-array FileAttribute 0))
        f (io/file (str dir) "cluster.edn")]
    (spit f "{:name \"demo\" :min-nodes 0}")
    (is (= ["cluster.edn [:min-nodes]: must be a positive integer, got 0"]
           (:lines (failure #(config/read-cluster-config (str f))))))
    (io/delete-file f)
    (Files/delete dir)))

;;; Properties

(def ^:private unit-ms {"ms" 1 "s" 1000 "m" 60000 "h" 3600000 "d" 86400000})

(defspec durations-convert-to-milliseconds 200
  (prop/for-all [n (gen/large-integer* {:min 0 :max 1000000000})
                 unit (gen/elements (keys unit-ms))]
    (= (* n (unit-ms unit))
       (get-in (config/parse-node-config (node-edn [:discovery :timeout] (str n unit)))
               [:discovery :timeout]))))

(defspec sizes-convert-to-bytes 100
  (prop/for-all [n (gen/large-integer* {:min 0 :max 1000000})
                 [unit bytes] (gen/elements [["" 1] ["k" 1024] ["K" 1024] ["M" 1048576] ["g" 1073741824]])]
    (= (* n bytes)
       (get-in (config/parse-cluster-config (cluster-edn [:apps :web :resources :memory] (str n unit)))
               [:apps :web :resources :memory]))))

(defspec ports-are-checked 200
  (prop/for-all [port (gen/large-integer* {:min -10 :max 70000})]
    (let [text (node-edn [:listen :etcd-peer] (str "10.0.0.5:" port))]
      (if (<= 1 port 65535)
        (= {:host "10.0.0.5" :port port} (get-in (config/parse-node-config text) [:listen :etcd-peer]))
        (= [[:listen :etcd-peer]] (map :path (:errors (node-errors text))))))))

(def ^:private known-keys
  [:data-dir :name :listen :api :advertise :labels :ca :cert :key :lease :ttl :etcd :discovery
   :sources :type :addresses :url :port :repo :path :ref :publish :timeout :contacts :system :impl
   :min-nodes :below-min :namespaces :hubs :max :score :hysteresis :quorum-loss :policy :after
   :apps :web :image :build :git :replicas :per-node :cmd :env :ports :container :resources :cpu
   :memory :constraints])

(def ^:private gen-garbage
  (let [scalar (gen/one-of [gen/small-integer gen/string-alphanumeric gen/keyword gen/boolean
                            (gen/return nil) gen/double gen/symbol gen/char gen/ratio
                            (gen/elements ["10s" "1s" "0.0.0.0:7440" "x:99999" "256M" "" " " "main"
                                           :static :dns :url :git :wait :recover :pause 'a/b])])
        k (gen/one-of [(gen/elements known-keys) gen/keyword gen/string-alphanumeric gen/small-integer])]
    (gen/recursive-gen (fn [inner] (gen/one-of [(gen/vector inner 0 4)
                                                (gen/list inner)
                                                (gen/map k inner {:max-elements 5})]))
                       scalar)))

(defn- key-paths
  "Every path to a value inside nested maps and vectors."
  [x]
  (cond (map? x) (into [[]] (for [[k v] x, p (key-paths v)] (into [k] p)))
        (vector? x) (into [[]] (for [[i v] (map-indexed vector x), p (key-paths v)] (into [i] p)))
        :else [[]]))

(defn- only-invalid?
  "True when conforming returns a map or throws ::invalid with well-formed errors."
  [conform data]
  (try (map? (conform data))
       (catch ExceptionInfo e
         (let [{:keys [type errors]} (ex-data e)]
           (and (= ::config/invalid type)
                (seq errors)
                (every? #(and (vector? (:path %)) (string? (:message %))) errors))))))

(defspec validation-never-crashes 300
  (let [node (read-string (slurp "examples/node.edn"))
        cluster (read-string (slurp "examples/cluster.edn"))
        mutate (fn [m] (gen/let [path (gen/elements (key-paths m)) v gen-garbage]
                         (if (empty? path) v (assoc-in m path v))))]
    (prop/for-all [[which data] (gen/one-of
                                 [(gen/tuple (gen/return :node) (mutate node))
                                  (gen/tuple (gen/return :cluster) (mutate cluster))
                                  (gen/tuple (gen/elements [:node :cluster])
                                             (gen/map (gen/elements known-keys) gen-garbage))
                                  (gen/tuple (gen/elements [:node :cluster]) gen-garbage)])]
      (only-invalid? (if (= :node which) config/conform-node-config config/conform-cluster-config)
                     data))))

(deftest a-dns-source-may-name-its-server
  (is (= {:type :dns :name "shoal" :port 7440 :server {:host "10.0.0.53" :port 53}}
         (-> (config/conform-node-config {:data-dir "d" :ca {:cert "c" :key "k"}
                                          :discovery {:sources [{:type :dns :name "shoal" :server "10.0.0.53:53"}]}})
             :discovery :sources first))))
