(ns shoal.config
  "Layer 1: reads `node.edn` (per node image) and `cluster.edn` (per commit of the cluster repo),
  validates them with clojure.spec and returns plain data with strings already converted.

  Vocabulary, as written in the files and as returned after loading:
  - *duration*: \"500ms\" \"10s\" \"5m\" \"2h\" \"90d\"  -> long milliseconds
  - *size*:     \"512k\" \"256M\" \"2G\" (binary multiples; no unit = bytes) -> long bytes
  - *address*:  \"host:port\" (\"[::1]:7440\" for IPv6) -> {:host \"host\" :port 7440}
  - *path*:     a non-blank string, returned as is; callers resolve relative ones.
  Absent optional keys get their defaults (see doc/config.md), so callers never need `(or x default)`.

  Every map with a fixed set of keys is *closed*: an unknown key is an error, because a typo must
  never be silently ignored. Maps keyed by names the user chooses (apps, labels, env, system) are open.

  Errors are ex-info, never matched by message:
  - `{:type ::missing :file \"node.edn\" :path \"/etc/shoal/node.edn\"}`
  - `{:type ::unreadable :file .. :line .. :column .. :reason \"Unmatched delimiter: }\"}`
  - `{:type ::invalid :file \"cluster.edn\" :errors [{:path [:apps :web :replicas] :message ..}]}`
    with every error at once, sorted by path; the ex-message has one line per error:
    `cluster.edn [:apps :web :replicas]: must be a positive integer, got \"3\"`.

  Nothing is evaluated: EDN is read by clojure.edn with every tagged literal refused, and symbols
  (`:hubs {:score my.cluster/score}`) stay symbols, for their users to resolve."
  (:require [clojure.edn :as edn]
            [clojure.java.io :as io]
            [clojure.spec.alpha :as s]
            [clojure.string :as str]
            [shoal.config.ca :as-alias ca]
            [shoal.config.cluster :as-alias cluster]
            [shoal.config.dns :as-alias dns]
            [shoal.config.node :as-alias node])
  (:import (clojure.lang LineNumberingPushbackReader)
           (java.io File StringReader)
           (java.net URI URISyntaxException)))

;;; Conversions. Each returns ::s/invalid rather than throwing, so that it can be a spec conformer
;;; and a bad value becomes a reported error like any other.

(def ^:private duration-ms {"ms" 1, "s" 1000, "m" 60000, "h" 3600000, "d" 86400000})

(def ^:private size-bytes {"" 1, "k" 1024, "m" (* 1024 1024), "g" (* 1024 1024 1024),
                           "t" (* 1024 1024 1024 1024)})

(defn- times
  "n * unit, or nil on overflow (\"99999999999d\" is an error, not a negative timeout)."
  [n unit]
  (try (Math/multiplyExact (long n) (long unit)) (catch ArithmeticException _ nil)))

(defn- ->duration [x]
  (or (when (string? x)
        (when-let [[_ n unit] (re-matches #"(\d+)(ms|s|m|h|d)" x)]
          (some-> (parse-long n) (times (duration-ms unit)))))
      ::s/invalid))

(defn- ->size [x]
  (or (when (string? x)
        (when-let [[_ n unit] (re-matches #"(\d+)([kKmMgGtT]?)" x)]
          (some-> (parse-long n) (times (size-bytes (str/lower-case unit))))))
      ::s/invalid))

(def ^:private host-re
  "A DNS name or IPv4 address, or an IPv6 address (at least two colons, so \"10.0.0.5:7440\" is
  not mistaken for one)."
  #"[A-Za-z0-9._-]+|[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")

(def ^:private address-re #"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+)):(\d{1,5})")

(defn- ->address [x]
  (or (when (string? x)
        (when-let [[_ ipv6 host port] (re-matches address-re x)]
          (let [port (parse-long port)]
            (when (<= 1 port 65535) {:host (or ipv6 host) :port port}))))
      ::s/invalid))

(defn- http-url? [x]
  (try (let [u (URI. x)]
         (boolean (and (#{"http" "https"} (.getScheme u)) (not (str/blank? (.getHost u))))))
       (catch URISyntaxException _ false)))

;;; Two map specs that clojure.spec lacks. s/keys accepts any extra key and s/map-of reports a bad
;;; entry at [... k 0] or [... k 1]; these report at [... k], so that every problem's :in is a
;;; get-in path into the user's data, and problems can name the unknown key itself.

(defn- not-a-map [path via in x]
  [{:path path :pred `map? :val x :via via :in in}])

(defn- closed-map
  "A spec for a map with only the keys in `allowed` (a vector, in the order error messages list
  them), validated by `keys-spec`, an s/keys. The `defaults` are merged under the user's map before
  validation, so a default sub-map ({:lease {}}) is filled in by its own spec and each default is
  written once, in file syntax."
  [keys-spec allowed defaults]
  (let [allowed? (set allowed)
        expected (str "unknown key; expected one of " (str/join " " (map pr-str allowed)))]
    (reify s/Spec
      (conform* [_ x]
        (if (and (map? x) (every? allowed? (keys x)))
          (s/conform* keys-spec (merge defaults x))
          ::s/invalid))
      (unform* [_ x] x)
      (explain* [_ path via in x]
        (if-not (map? x)
          (not-a-map path via in x)
          (concat
           (for [k (keys x) :when (not (allowed? k))]
             {:path path :pred `closed-keys :val k :via via :in (conj in k) ::message expected})
           ;; only the allowed keys: s/keys would also check any namespaced key it has a spec for
           (s/explain* keys-spec path via in (merge defaults (select-keys x allowed))))))
      (gen* [_ _ _ _] nil)
      (with-gen* [this _] this)
      (describe* [_] `(closed-keys ~@(rest (s/describe* keys-spec)))))))

(defmacro ^:private closed-keys
  "Like s/keys with :req-un/:opt-un, but closed, and with :defaults (a map in file syntax)."
  [& {:keys [req-un opt-un defaults]}]
  `(closed-map (s/keys :req-un ~(or req-un []) :opt-un ~(or opt-un []))
               ~(mapv (comp keyword name) (concat req-un opt-un))
               ~defaults))

(defn- problems-at
  "The problems of `spec` on value `x`, re-rooted at path/via/in."
  [spec x path via in]
  (for [p (::s/problems (s/explain-data spec x))]
    (-> p
        (update :path #(into path %))
        (update :via #(into via %))
        (update :in #(into in %)))))

(defn- open-map
  "A spec for a map with user-chosen keys: each key satisfies `key-spec`, each value `val-spec`
  (both registered spec names). Conforms the values."
  [key-spec val-spec]
  (reify s/Spec
    (conform* [_ x]
      (if-not (map? x)
        ::s/invalid
        (reduce-kv (fn [acc k v]
                     (let [cv (s/conform val-spec v)]
                       (if (or (s/invalid? (s/conform key-spec k)) (s/invalid? cv))
                         (reduced ::s/invalid)
                         (assoc acc k cv))))
                   {} x)))
    (unform* [_ x] x)
    (explain* [_ path via in x]
      (if-not (map? x)
        (not-a-map path via in x)
        (mapcat (fn [[k v]]
                  (concat (map #(assoc % ::got k) (problems-at key-spec k path via (conj in k)))
                          (problems-at val-spec v path via (conj in k))))
                x)))
    (gen* [_ _ _ _] nil)
    (with-gen* [this _] this)
    (describe* [_] `(open-map ~key-spec ~val-spec))))

;;; Values shared by both files

(s/def ::string string?)
(s/def ::non-blank (s/and string? (complement str/blank?)))
(s/def ::pos-int pos-int?)
(s/def ::port (s/and int? #(<= 1 % 65535)))
(s/def ::boolean boolean?)
(s/def ::duration (s/conformer ->duration))
(s/def ::size (s/conformer ->size))
(s/def ::address (s/conformer ->address))
(s/def ::host (s/and string? #(re-matches host-re %)))
(s/def ::url (s/and string? http-url?))
(s/def ::label-name keyword?)
(s/def ::labels (open-map ::label-name ::string))
(s/def ::path ::non-blank)
(s/def ::ref ::non-blank)

;;; node.edn

(s/def ::data-dir ::non-blank)
(s/def ::node/name ::non-blank)
(s/def ::advertise ::host)

(s/def ::api ::address)
(s/def ::etcd-client ::address)
(s/def ::etcd-peer ::address)
(s/def ::listen (closed-keys :opt-un [::api ::etcd-client ::etcd-peer]
                             :defaults {:api "0.0.0.0:7440"
                                        :etcd-client "0.0.0.0:2379"
                                        :etcd-peer "0.0.0.0:2380"}))

(s/def ::ca/cert ::non-blank)
(s/def ::ca/key ::non-blank)
(s/def ::ca/operator-cert ::non-blank)
(s/def ::ca (closed-keys :req-un [::ca/cert ::ca/key] :opt-un [::ca/operator-cert]))

(s/def ::lifetime ::duration)
(s/def ::node/cert (closed-keys :opt-un [::lifetime] :defaults {:lifetime "90d"}))

;; Below 2s a lease would expire between two renewals on any ordinary network hiccup.
(s/def ::ttl (s/and ::duration #(>= % 2000)))
(s/def ::lease (closed-keys :opt-un [::ttl] :defaults {:ttl "10s"}))

(s/def ::binary ::non-blank)
(s/def ::etcd (closed-keys :opt-un [::binary] :defaults {:binary "/usr/bin/etcd"}))

(s/def ::type keyword?)
(s/def ::addresses (s/coll-of ::address :kind vector?))
(s/def ::dns/name ::host)
(s/def ::dns/port ::port)
(s/def ::dns/server ::address)
(s/def ::repo ::non-blank)
(s/def ::publish ::boolean)

(defmulti ^:private source-type
  "Discovery sources are validated by their :type; the methods are the known types."
  :type)
(defmethod source-type :static [_] (closed-keys :req-un [::type ::addresses]))
(defmethod source-type :url [_] (closed-keys :req-un [::type ::url]))
(defmethod source-type :dns [_] (closed-keys :req-un [::type ::dns/name] :opt-un [::dns/port ::dns/server]
                                             :defaults {:port 7440}))
(defmethod source-type :git [_] (closed-keys :req-un [::type ::repo ::path] :opt-un [::ref ::publish]
                                             :defaults {:ref "main" :publish false}))

(s/def ::source (s/multi-spec source-type :type))
(s/def ::sources (s/coll-of ::source :kind vector?))
(s/def ::timeout ::duration)
(s/def ::stable-for ::duration)
(s/def ::contacts ::pos-int)
(s/def ::discovery (closed-keys :opt-un [::sources ::timeout ::stable-for ::contacts]
                                :defaults {:sources [] :timeout "2s" :stable-for "3s" :contacts 1}))

(s/def ::cluster-repo (closed-keys :req-un [::path] :opt-un [::ref] :defaults {:ref "main"}))

(s/def ::impl #(or (keyword? %) (qualified-symbol? %)))
(s/def ::component (s/keys :req-un [::impl]))   ; open: the rest is the component's own options
(s/def ::component-name keyword?)
(s/def ::system (open-map ::component-name ::component))

(s/def ::node-config
  (closed-keys :req-un [::data-dir ::ca]
               :opt-un [::node/name ::listen ::advertise ::labels ::node/cert ::lease ::etcd
                        ::discovery ::cluster-repo ::system]
               :defaults {:listen {} :labels {} :cert {} :lease {} :etcd {} :discovery {} :system {}}))

;;; cluster.edn

(s/def ::cluster/name (s/and string? #(re-matches #"[a-z0-9-]{1,63}" %)))
(s/def ::min-nodes ::pos-int)
(s/def ::below-min #{:pause :stop :keep})
(s/def ::ns-name simple-symbol?)
(s/def ::namespaces (s/coll-of ::ns-name :kind vector?))

(s/def ::max #{1 3 5 7})
(s/def ::score qualified-symbol?)
(s/def ::hysteresis (s/and number? #(<= 0 %) #(< % 1)))
(s/def ::policy keyword?)
(s/def ::after ::duration)
(defmulti ^:private quorum-policy
  "What to do when the hubs lose quorum, by :policy; the methods are the known policies."
  :policy)
(defmethod quorum-policy :wait [_] (closed-keys :req-un [::policy]))
(defmethod quorum-policy :recover [_] (closed-keys :req-un [::policy ::after]))
(s/def ::quorum-loss (s/multi-spec quorum-policy :policy))
(s/def ::hubs (closed-keys :opt-un [::max ::score ::hysteresis ::quorum-loss]
                           :defaults {:max 5 :score 'shoal.hubs/default-score :hysteresis 0.2
                                      :quorum-loss {:policy :wait}}))

(s/def ::image ::non-blank)
(s/def ::git ::non-blank)
(s/def ::dockerfile ::non-blank)
(s/def ::build (closed-keys :req-un [::git] :opt-un [::ref ::dockerfile]
                            :defaults {:ref "main" :dockerfile "Dockerfile"}))
(s/def ::replicas ::pos-int)
(s/def ::per-node ::boolean)
(s/def ::hubs-only ::boolean)
(s/def ::cmd (s/coll-of ::string :kind vector?))
(s/def ::env-name (s/and string? #(re-matches #"[^=\s]+" %)))
(s/def ::env (open-map ::env-name ::string))
(s/def ::container ::port)
(s/def ::service ::port)
(s/def ::port-map (closed-keys :req-un [::container] :opt-un [::service]))
(s/def ::ports (s/coll-of ::port-map :kind vector?))
(s/def ::cpu (s/and number? pos? #(Double/isFinite (double %))))
(s/def ::memory ::size)
(s/def ::resources (closed-keys :opt-un [::cpu ::memory]))
(s/def ::constraints (closed-keys :opt-un [::labels]))

;; Cross-key rules are named specs so that their failures carry their own message.
(s/def ::one-source #(= 1 (count (select-keys % [:image :build]))))
(s/def ::replicas-or-per-node #(not (and (:per-node %) (contains? % :replicas))))

(s/def ::app-name (s/and simple-keyword? #(re-matches #"[a-z0-9-]+" (name %))))
(s/def ::app
  (s/and (closed-keys :opt-un [::image ::build ::replicas ::per-node ::hubs-only ::cmd ::env ::ports
                               ::resources ::constraints]
                      :defaults {:per-node false :hubs-only false})
         ::one-source
         ::replicas-or-per-node
         ;; :replicas means nothing for a :per-node app, so only the others get the default
         (s/conformer #(if (:per-node %) % (merge {:replicas 1} %)))))
(s/def ::apps (open-map ::app-name ::app))

(s/def ::cluster-config
  (closed-keys :req-un [::cluster/name]
               :opt-un [::min-nodes ::below-min ::namespaces ::hubs ::apps]
               :defaults {:min-nodes 1 :below-min :pause :namespaces [] :hubs {} :apps {}}))

;;; Explaining problems

(def ^:private expectations
  "What a spec expects, as the operator reads it. A problem is explained by the most specific spec
  on its :via with an entry here. An entry is a string, or {:message .. :show [keys]} for a rule
  on a whole map, whose `got` then shows only those keys."
  {::string "must be a string"
   ::non-blank "must be a non-blank string"
   ::pos-int "must be a positive integer"
   ::port "must be a port number in 1..65535"
   ::boolean "must be true or false"
   ::duration "must be a duration like \"10s\""
   ::size "must be a size like \"256M\""
   ::address "must be \"host:port\" with a port in 1..65535"
   ::host "must be a host name or IP address"
   ::url "must be an http or https URL"
   ::ttl "must be a duration of at least 2s"
   ::labels "must be a map of keyword to string"
   ::label-name "label names must be keywords"
   ::addresses "must be a vector of \"host:port\" strings"
   ::sources "must be a vector of discovery sources"
   ::impl "must be a keyword or a qualified symbol"
   ::component "must be a map with :impl"
   ::component-name "component names must be keywords"
   ::cluster/name "must be 1 to 63 characters of a-z, 0-9 and -"
   ::below-min "must be one of :pause :stop :keep"
   ::ns-name "must be a namespace symbol like my.cluster.hooks"
   ::namespaces "must be a vector of namespace symbols"
   ::max "must be one of 1 3 5 7"
   ::score "must be a qualified symbol like my.cluster/score"
   ::hysteresis "must be a number in [0, 1)"
   ::app-name "app names must be keywords of a-z, 0-9 and -"
   ::one-source {:message "must have exactly one of :image or :build" :show [:image :build]}
   ::replicas-or-per-node {:message "must not have :replicas when :per-node is true"
                           :show [:replicas :per-node]}
   ::cmd "must be a vector of strings"
   ::env "must be a map of string to string"
   ::env-name "environment variable names must be strings without = or whitespace"
   ::ports "must be a vector of maps like {:container 80 :service 8080}"
   ::cpu "must be a positive number"})

(def ^:private structural
  "Expectations by predicate, for a wrong shape under a spec that has no entry of its own. They
  come before walking up :via: an app that is not a map is not explained as \"apps must be ...\"."
  {`map? "must be a map" `vector? "must be a vector"})

(defn- expectation [via pred]
  (let [entry #(when-let [e (expectations %)] (if (string? e) {:message e} e))]
    (or (entry (peek via))
        (when-let [m (structural pred)] {:message m})
        (some entry (rseq via))
        {:message (str "must satisfy " (pr-str (s/abbrev pred)))})))

(defn- show
  "pr-str, shortened: a value in an error line is there to be recognised, not reproduced."
  [x]
  (binding [*print-length* 8 *print-level* 3] (pr-str x)))

(defn- required-key
  "The key an s/keys problem says is missing, from its predicate (fn [%] (contains? % k))."
  [pred]
  (when (and (seq? pred) (= `fn (first pred)))
    (let [[_ _ [f _ k]] pred]
      (when (= `contains? f) k))))

(defn- unknown-variant
  "Explains a multi-spec with no method for the value's tag, listing the known tags."
  [data {:keys [via in]}]
  (let [[_ mm tag] (s/form (peek via))
        known (str/join " " (map pr-str (sort (keys (methods @(find-var mm))))))
        x (get-in data in)]
    (cond
      (not (map? x)) {:path in :message (str "must be a map with " tag " one of " known ", got " (show x))}
      (not (contains? x tag)) {:path (conj in tag) :message (str "is required; one of " known)}
      :else {:path (conj in tag) :message (str "must be one of " known ", got " (show (get x tag)))})))

(defn- problem->error
  "One spec problem as {:path [..] :message \"..\"}. `data` is what the file holds: the value shown
  is the one the user wrote (a problem's :val may already be converted, e.g. ms for \"1s\")."
  [data {:keys [pred via in reason] :as problem}]
  (let [via (vec via)]
    (cond
      (required-key pred) {:path (conj in (required-key pred)) :message "is required"}
      (::message problem) {:path in :message (::message problem)}
      (= "no method" reason) (unknown-variant data problem)
      :else (let [{:keys [message] only :show} (expectation via pred)
                  x (if (contains? problem ::got) (::got problem) (get-in data in))
                  x (if (and only (map? x)) (select-keys x only) x)]
              {:path in :message (str message ", got " (show x))}))))

(defn- compare-keys
  "Orders path elements: naturally when comparable with each other, else by printed form."
  [a b]
  (if (and (= (class a) (class b)) (instance? Comparable a) (not (coll? a)))
    (compare a b)
    (compare (pr-str a) (pr-str b))))

(defn- compare-errors [x y]
  (let [c (or (first (remove zero? (map compare-keys (:path x) (:path y))))
              (compare (count (:path x)) (count (:path y))))]
    (if (zero? c) (compare (:message x) (:message y)) c)))

(defn- error-line [file {:keys [path message]}]
  (str file " " (pr-str path) ": " message))

(defn- conform-or-throw
  "The conformed data, or throws ::invalid with every error."
  [spec data file]
  (let [conformed (s/conform spec data)]
    (if-not (s/invalid? conformed)
      conformed
      (let [errors (->> (::s/problems (s/explain-data spec data))
                        (map #(problem->error data %))
                        distinct
                        (sort compare-errors)
                        vec)]
        (throw (ex-info (str/join "\n" (map #(error-line file %) errors))
                        {:type ::invalid :file file :errors errors}))))))

;;; Reading

(defn- refuse-tag [tag _]
  (throw (ex-info (str "tagged literal #" tag " is not allowed in config files") {:tag tag})))

(def ^:private edn-opts
  ;; #inst and #uuid are built into clojure.edn; refuse them too, so that the files hold only
  ;; plain data whose meaning is fixed here.
  {:eof ::eof
   :readers {'inst #(refuse-tag 'inst %) 'uuid #(refuse-tag 'uuid %)}
   :default refuse-tag})

(defn- unreadable
  "An ::unreadable error at the reader's position: the last character it read, which for most
  errors (an unmatched delimiter, a bad number) is the culprit."
  [file ^LineNumberingPushbackReader rdr reason]
  (let [line (.getLineNumber rdr) column (max 1 (dec (.getColumnNumber rdr)))]
    (ex-info (str file " line " line ", column " column ": unreadable EDN: " reason)
             {:type ::unreadable :file file :line line :column column :reason reason})))

(defn- read-edn
  "The one form in `text`, or nil when there is none."
  [text file]
  (let [rdr (LineNumberingPushbackReader. (StringReader. text))
        read1 #(try (edn/read edn-opts rdr)
                    (catch Exception e
                      ;; EdnReader wraps the cause; the reader's position is where it stopped.
                      (throw (unreadable file rdr (ex-message (or (ex-cause e) e))))))
        x (read1)]
    (when-not (= ::eof x)
      (when-not (= ::eof (read1))
        (throw (unreadable file rdr "expected a single map, found more after it")))
      x)))

(defn- slurp-config
  "The text of `f`, or throws ::missing / ::unreadable."
  [^File f]
  (let [file (.getName f)]
    (cond
      (not (.exists f))
      (throw (ex-info (str file ": not found at " (.getPath f))
                      {:type ::missing :file file :path (.getPath f)}))
      (.isDirectory f)
      (throw (ex-info (str file ": " (.getPath f) " is a directory, not a file")
                      {:type ::unreadable :file file :path (.getPath f) :reason "is a directory"}))
      :else
      (try (slurp f :encoding "UTF-8")
           (catch java.io.IOException e
             (throw (ex-info (str file ": cannot read " (.getPath f) ": " (ex-message e))
                             {:type ::unreadable :file file :path (.getPath f) :reason (ex-message e)}
                             e)))))))

;;; Public API

(defn conform-node-config
  "Validates node.edn content already read as data (a map) and returns it conformed: defaults
  filled in, durations as ms, sizes as bytes, addresses as {:host :port}. `:name`, `:advertise`
  and `:cluster-repo` stay absent when not written: host name and address are the node's to
  detect, not the config's (loading stays pure). Throws ex-info
  {:type ::invalid :file file-name :errors [{:path :message}]} listing every error. For callers
  that build a node config in code (tests, the simulated runtime)."
  ([data] (conform-node-config data "node.edn"))
  ([data file-name] (conform-or-throw ::node-config data file-name)))

(defn conform-cluster-config
  "Like conform-node-config, for cluster.edn content."
  ([data] (conform-cluster-config data "cluster.edn"))
  ([data file-name] (conform-or-throw ::cluster-config data file-name)))

(defn parse-node-config
  "Reads node.edn text and returns the conformed config (see conform-node-config). `file-name`
  names the source in errors. Throws ::unreadable (with :line and :column) or ::invalid."
  ([text] (parse-node-config text "node.edn"))
  ([text file-name] (conform-node-config (read-edn text file-name) file-name)))

(defn parse-cluster-config
  "Reads cluster.edn text and returns the conformed config (see conform-node-config). Throws
  ::unreadable (with :line and :column) or ::invalid."
  ([text] (parse-cluster-config text "cluster.edn"))
  ([text file-name] (conform-cluster-config (read-edn text file-name) file-name)))

(defn read-node-config
  "Reads and validates the node.edn file at `path`; returns the conformed config. Throws ::missing
  (with :path) when there is no such file, ::unreadable, or ::invalid. Errors name the file by its
  base name. Relative paths inside (e.g. :data-dir) are returned as written."
  [path]
  (let [f (io/file path)]
    (parse-node-config (slurp-config f) (.getName f))))

(defn read-cluster-config
  "Reads and validates a cluster.edn file; `path` is the file or the cluster repo directory that
  holds it. Returns the conformed config; throws ::missing, ::unreadable or ::invalid."
  [path]
  (let [f (io/file path)
        f (if (.isDirectory f) (io/file f "cluster.edn") f)]
    (parse-cluster-config (slurp-config f) (.getName f))))

(defn explain-str
  "The operator-facing text of a config error thrown by this namespace (for ::invalid, one line per
  error), or nil for any other exception."
  [ex]
  (when (#{::missing ::unreadable ::invalid} (:type (ex-data ex)))
    (ex-message ex)))
