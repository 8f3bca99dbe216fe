(ns shoal.discovery
  "Layer 3: where to look for peers. A node's `node.edn` lists discovery *sources* in order; each
  yields *candidates*, peer addresses `{:host \"10.0.0.2\" :port 7440}` that membership then tries
  to join. A candidate is only a place to knock: it may be dead, or this node itself.

  Source kinds, one namespace each (see doc/discovery.md):
  - `:static` (shoal.discovery.static) the addresses written in the config;
  - `:url`    (shoal.discovery.url)    an HTTP(S) URL whose body is an EDN vector of addresses;
  - `:dns`    (shoal.discovery.dns)    SRV records of a name, else its A records with a port;
  - `:git`    (shoal.discovery.git)    a file in a git repo, which a node may also publish to.

  A source is a `Source`, built from its conformed config map by the `source` multimethod (on
  `:type`); a namespace of the cluster repo may add kinds with `defmethod`. The built-in kinds'
  namespaces are loaded on first use.

  `discover` asks every source and never throws: a source that fails, hangs or is malformed
  becomes an entry in `:errors` (logged at WARN) and the others still count. `publish!` writes
  this node's own address to every source configured with `:publish true` that can take it.

  Errors are ex-info:
  - `{:type ::source-failed :source cfg :reason \"url http://…: HTTP 404\"}` from `candidates`
    and `publish`: the source could not be read or written this time;
  - `{:type ::invalid-source :source cfg :reason \"…\"}` from `source`: the config itself is
    wrong (unknown `:type`, missing or malformed key), so retrying will not help.
  Reasons are one line, name the source first, and are meant for the operator."
  (:require [clojure.edn :as edn]
            [clojure.string :as str]
            [clojure.tools.logging :as log])
  (:import (java.io PushbackReader StringReader)
           (java.util.concurrent ExecutionException Future TimeUnit TimeoutException)))

(def default-port
  "The port a candidate gets when its source names only a host: shoal's node API port."
  7440)

;;; Contracts

(defprotocol Source
  "Somewhere to find peer addresses."
  (candidates [src timeout-ms]
    "The addresses this source lists now: a vector of `{:host string :port int}`, in the source's
    own order, possibly empty. Blocks for at most about `timeout-ms` (network and child processes
    included). Idempotent: reads only. Throws ex-info `::source-failed` with `:source` (the
    config map) and `:reason` when the source cannot be read or what it holds is malformed."))

(defprotocol Publish
  "An optional ability of a Source: make this node's own address listed by it, so that nodes
  started later find this one."
  (publish [src address timeout-ms]
    "Adds `address` (`{:host :port}`) to what this source lists, if absent. Blocks for at most
    about `timeout-ms`; safe to call concurrently from many nodes and repeatedly (idempotent).
    Returns true when the source was changed, false when the address was already there. Throws
    ex-info `::source-failed` with `:source` and `:reason`."))

;;; Helpers for implementations

(defn failed
  "The ex-info a source throws when it cannot be read: `::source-failed` with the source's config
  map and the one-line `reason`, which is also the message."
  ([cfg reason] (failed cfg reason nil))
  ([cfg reason cause]
   (ex-info reason {:type ::source-failed :source cfg :reason reason} cause)))

(defn invalid
  "The ex-info `source` throws for a config that can never work: `::invalid-source` with the
  config map and the `reason`, which is also the message."
  [cfg reason]
  (ex-info reason {:type ::invalid-source :source cfg :reason reason}))

(def ^:private host-re
  "A DNS name or IPv4 address, or an IPv6 address (at least two colons)."
  #"[A-Za-z0-9._-]+|[0-9A-Fa-f.]*:[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*")

(def ^:private address-re
  "host:port or [v6]:port, the port optional."
  #"(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?")

(defn- valid-port [p]
  (when (and (int? p) (<= 1 p 65535)) (long p)))

(defn parse-address
  "An address as written in a source: `\"host:port\"`, `\"host\"` (port `default-port`),
  `\"[::1]:7440\"`, a bare IPv6 address, or a map `{:host \"h\" :port n}` (`:port` optional).
  Returns `{:host :port}`, or nil when `x` is none of these."
  [x]
  (cond
    (string? x)
    (if-let [[_ v6 host port] (re-matches address-re x)]
      (when-let [p (valid-port (if port (parse-long port) default-port))]
        {:host (or v6 host) :port p})
      (when (re-matches host-re x)
        {:host x :port default-port}))

    (map? x)
    (let [{:keys [host port] :or {port default-port}} x
          p (valid-port port)]
      (when (and p (string? host) (re-matches host-re host))
        {:host host :port p}))

    :else nil))

(defn address-str
  "`{:host :port}` as \"host:port\" (\"[v6]:port\" for IPv6), the form sources store."
  [{:keys [host port]}]
  (if (str/includes? host ":") (str "[" host "]:" port) (str host ":" port)))

(defn show
  "pr-str, shortened: a value in a reason is there to be recognised, not reproduced."
  [x]
  (binding [*print-length* 4 *print-level* 2] (pr-str x)))

(defn- refuse-tag [tag _]
  (throw (ex-info (str "tagged literal #" tag " is not allowed") {:tag tag})))

(def ^:private edn-opts
  ;; plain data only: #inst and #uuid are built into clojure.edn, so they are refused by name
  {:eof ::eof
   :readers {'inst #(refuse-tag 'inst %) 'uuid #(refuse-tag 'uuid %)}
   :default refuse-tag})

(def ^:private shape "an EDN vector of \"host:port\"")

(defn read-addresses
  "The addresses in `text`, the file format shared by `:url` and `:git` sources: one EDN vector
  of `\"host:port\"` strings (or `{:host :port}` maps; a bare host gets `default-port`), read
  with clojure.edn and no tagged literals. Returns a vector of `{:host :port}`. Throws
  `::source-failed` for `cfg`, with a reason starting with `what` (e.g. \"url http://…: body\")
  that says what was wrong."
  [cfg what text]
  (let [rdr (PushbackReader. (StringReader. (str text)))
        read1 #(try (edn/read edn-opts rdr)
                    (catch Exception e
                      (throw (failed cfg (str what " is not EDN: " (ex-message (or (ex-cause e) e)))))))
        x (read1)]
    (when-not (or (= ::eof x) (= ::eof (read1)))
      (throw (failed cfg (str what " is not " shape ": more follows the first form"))))
    (when-not (vector? x)
      (throw (failed cfg (str what " is not " shape ", got "
                              (if (= ::eof x) "nothing" (show x))))))
    (mapv (fn [entry]
            (or (parse-address entry)
                (throw (failed cfg (str what " is not " shape ": bad entry " (show entry))))))
          x)))

(defn write-addresses
  "The text of a file listing `addresses` in the format `read-addresses` reads: a sorted,
  duplicate-free EDN vector of \"host:port\" strings, one per line."
  [addresses]
  (let [lines (->> addresses (map address-str) distinct sort (map pr-str))]
    (str "[" (str/join "\n " lines) "]\n")))

(defn describe
  "A short name of a source config for messages: \"url http://…\", \"dns shoal\", …"
  [cfg]
  (if (map? cfg)
    (let [{:keys [type url name repo path ref]} cfg
          txt #(if (string? %) % (show %))]
      (case type
        :static "static"
        :url (str "url " (txt url))
        :dns (str "dns " (txt name))
        :git (str "git " (txt repo) " " (txt path) (when ref (str "@" (txt ref))))
        (str "source " (show type))))
    (str "source " (show cfg))))

;;; Building sources

(def ^:private built-in #{:static :url :dns :git})

(defmulti source
  "Builds the Source for one conformed source config map (see shoal.config), dispatching on its
  `:type`. Cheap: checks the map and prepares, but does no I/O. Throws `::invalid-source` for
  an unknown `:type` or a map its kind cannot use. Kinds outside shoal are added with
  `(defmethod shoal.discovery/source :my-kind [cfg] ...)`."
  (fn [cfg] (when (map? cfg) (:type cfg))))

(defmethod source :default [cfg]
  (let [t (when (map? cfg) (:type cfg))]
    (if (built-in t)
      ;; a built-in kind whose namespace is not loaded yet: loading it defines its method
      (let [n (symbol (str "shoal.discovery." (name t)))]
        (locking built-in (require n))
        (if (contains? (methods source) t)
          (source cfg)
          (throw (invalid cfg (str (describe cfg) ": " n " did not define the source " t)))))
      (throw (invalid cfg (str (describe cfg) ": "
                               (cond (not (map? cfg)) "a discovery source must be a map with :type"
                                     (nil? t) "a discovery source needs a :type"
                                     :else "unknown discovery source type")
                               "; known types: "
                               (str/join " " (sort (map pr-str (into built-in (remove #{:default})
                                                                       (keys (methods source))))))))))))

;;; Running them

(defn- reason-of
  "The one-line reason of a source's failure: its own for our ex-infos (they name the source),
  else the exception's message after the source's name."
  [cfg ^Throwable e]
  (let [e (if (instance? ExecutionException e) (or (.getCause e) e) e)]
    (or (:reason (ex-data e))
        (str (describe cfg) ": " (or (ex-message e) (.getName (class e)))))))

(defn- built
  "A Source for `x`, which is a config map or already a Source, or an error entry."
  [x]
  (if (satisfies? Source x)
    ;; sources built by `source` keep their config under :cfg, and errors name it
    {:cfg (or (when (map? x) (:cfg x)) x) :src x}
    (try {:cfg x :src (source x)}
         (catch Throwable e {:cfg x :error (reason-of x e)}))))

(defn- positive-ms [t default]
  (if (and (number? t) (pos? t)) (long t) default))

(def ^:private grace-ms
  "How much longer than its timeout a source may take before `discover` stops waiting: sources
  time themselves out, this catches those that don't."
  250)

(defn- run-all
  "Calls `(f src)` for every built source, all at once on their own threads, and waits until the
  shared deadline. Returns, in order, {:cfg :value} or {:cfg :error reason}."
  [entries f timeout-ms]
  (let [started (mapv (fn [{:keys [src] :as e}]
                        (if src
                          (assoc e :future (future (f src)))
                          e))
                      entries)
        deadline (+ (System/nanoTime) (* 1000000 (+ timeout-ms grace-ms)))]
    (mapv (fn [{:keys [cfg error] fut :future}]
            (if error
              {:cfg cfg :error error}
              (try {:cfg cfg :value (.get ^Future fut (max 0 (- deadline (System/nanoTime)))
                                          TimeUnit/NANOSECONDS)}
                   (catch TimeoutException _
                     (future-cancel fut)
                     {:cfg cfg :error (str (describe cfg) ": timed out after " timeout-ms " ms")})
                   (catch Throwable e
                     {:cfg cfg :error (reason-of cfg e)}))))
          started)))

(defn- as-sources [sources]
  (cond (nil? sources) [] (sequential? sources) (vec sources) :else [sources]))

(defn discover
  "Asks every source for candidates and returns
  `{:candidates [{:host :port} …] :errors [{:source cfg :reason \"…\"} …]}`: the candidates of
  all sources that answered, in source order, duplicates removed (first one kept).

  `sources` are conformed config maps (built with `source`) or already-built Sources (to reuse
  their clients across calls; an error's `:source` is then the config the Source was built
  from, or the Source itself when it has none). The sources are asked at the same time, each
  with `timeout-ms`, so a call takes at most about `timeout-ms` however many there are; a source
  that does not answer in time is abandoned (its thread interrupted). A source that fails, times out, or is
  malformed is logged at WARN with the reason and listed in `:errors`. Never throws."
  [sources timeout-ms]
  (try
    (let [timeout-ms (positive-ms timeout-ms 2000)
          results (run-all (mapv built (as-sources sources))
                           #(candidates % timeout-ms)
                           timeout-ms)
          results (mapv (fn [{:keys [cfg value] :as r}]
                          (if (or (:error r) (and (vector? value) (every? parse-address value)))
                            r
                            {:cfg cfg :error (str (describe cfg) ": returned " (show value)
                                                  ", not a vector of {:host :port}")}))
                        results)
          errors (vec (for [{:keys [cfg error]} results :when error]
                        {:source cfg :reason error}))]
      (doseq [{:keys [reason]} errors]
        (log/warn "discovery: skipping source:" reason))
      {:candidates (into [] (comp (mapcat :value) (map parse-address) (distinct)) results)
       :errors errors})
    (catch Throwable e
      ;; only a bug gets here; discovery must still not take the node down
      (log/error e "discovery failed")
      {:candidates [] :errors [{:source sources :reason (str "discovery failed: " (reason-of "sources" e))}]})))

(defn publish!
  "Makes this node's own `address` (`{:host :port}` or \"host:port\") listed by every source
  configured with `:publish true` (today only `:git` sources can). The others are left alone.
  Sources are tried at the same time, each with `timeout-ms` (default 10 s: a publication may
  take several fetch/push rounds). Returns `{:published [cfg …] :unchanged [cfg …]
  :errors [{:source cfg :reason \"…\"}]}`; failures are logged at WARN. Never throws."
  ([sources address] (publish! sources address 10000))
  ([sources address timeout-ms]
   (try
     (let [timeout-ms (positive-ms timeout-ms 10000)
           addr (parse-address address)
           config-of #(if (and (map? %) (satisfies? Source %)) (:cfg %) %)
           wanted (filter #(let [cfg (config-of %)] (and (map? cfg) (true? (:publish cfg))))
                          (as-sources sources))
           entries (mapv (fn [x]
                           (let [{:keys [cfg src] :as e} (built x)]
                             (cond
                               (:error e) e
                               (nil? addr) {:cfg cfg :error (str (describe cfg) ": cannot publish "
                                                                 (show address) ", not an address")}
                               (not (satisfies? Publish src))
                               {:cfg cfg :error (str (describe cfg)
                                                     ": this kind of source cannot be published to")}
                               :else e)))
                         wanted)
           results (run-all entries #(publish % addr timeout-ms) timeout-ms)
           errors (vec (for [{:keys [cfg error]} results :when error]
                         {:source cfg :reason error}))]
       (doseq [{:keys [reason]} errors]
         (log/warn "discovery: could not publish own address:" reason))
       (doseq [{:keys [cfg value]} results :when (true? value)]
         (log/info "discovery: published" (address-str addr) "to" (describe cfg)))
       {:published (vec (for [{:keys [cfg value]} results :when (true? value)] cfg))
        :unchanged (vec (for [{:keys [cfg value] :as r} results
                              :when (and (not (:error r)) (not (true? value)))]
                          cfg))
        :errors errors})
     (catch Throwable e
       (log/error e "discovery: publication failed")
       {:published [] :unchanged []
        :errors [{:source sources :reason (str "publication failed: " (reason-of "sources" e))}]}))))
