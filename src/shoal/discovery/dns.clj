(ns shoal.discovery.dns
  "The `:dns` discovery source: `{:type :dns :name \"shoal\" :port 7440}`, with an optional
  `:server \"127.0.0.1:5353\"` (or `{:host :port}`) to ask one DNS server instead of the system's
  resolvers (from /etc/resolv.conf).

  The SRV records of `:name` itself are asked for first; each target is resolved to its A records
  and gets the record's port, ordered by priority, then weight (heaviest first). When the name has
  no SRV records, its A records are the candidates, with the source's `:port`. This is what
  Docker's embedded DNS answers for a network alias: one A record per container.

  Queries go through JNDI's DNS provider (module jdk.naming.dns), which lets a query have its own
  server and timeouts. Without `:server`, the A lookup goes through the system resolver
  (`InetAddress/getAllByName`) instead, so that search domains and /etc/hosts apply as they do for
  every other program on the machine."
  (:require [clojure.string :as str]
            [shoal.discovery :as d])
  (:import (java.net Inet4Address InetAddress UnknownHostException)
           (java.util Hashtable)
           (javax.naming CommunicationException NameNotFoundException NamingException
                         ServiceUnavailableException)
           (javax.naming.directory Attribute InitialDirContext)))

(def ^:private retries
  "Attempts per server before a query gives up (JNDI doubles the wait on each retry)."
  2)

(defn- env
  "The JNDI environment for one query with `budget-ms` in total: JNDI waits initial, 2×initial,
  … per server, so the initial wait is a third of the budget for two attempts."
  [server budget-ms]
  (doto (Hashtable.)
    (.put "java.naming.factory.initial" "com.sun.jndi.dns.DnsContextFactory")
    (.put "java.naming.provider.url"
          (if server (str "dns://" (d/address-str server)) "dns:"))
    (.put "com.sun.jndi.dns.timeout.initial" (str (max 50 (quot budget-ms 3))))
    (.put "com.sun.jndi.dns.timeout.retries" (str retries))))

(defn- absolute
  "`n` as a fully qualified name: JNDI resolves a relative one against the provider URL's domain,
  which is the root here, so the dot only makes that explicit."
  [n]
  (if (str/ends-with? n ".") n (str n ".")))

(defn- records
  "The values of the `rtype` records of `n` (strings, as JNDI prints them), [] when the name exists
  without such records. Throws NamingException (NameNotFoundException for NXDOMAIN)."
  [server budget-ms n rtype]
  (let [ctx (InitialDirContext. (env server budget-ms))]
    (try
      (let [^Attribute a (.get (.getAttributes ctx ^String (absolute n) ^"[Ljava.lang.String;" (into-array String [rtype]))
                               ^String rtype)]
        (if a (mapv str (enumeration-seq (.getAll a))) []))
      (finally (.close ctx)))))

(defn- parse-srv
  "\"priority weight port target\" as a map; nil for a malformed record or the \".\" target,
  which means the service is not offered there."
  [s]
  (let [[p w port target] (str/split (str/trim s) #"\s+")
        [p w port] (map #(some-> % parse-long) [p w port])]
    (when (and p w port target (<= 1 port 65535) (not= "." target))
      {:priority p :weight w :port port :target target})))

(defn- naming-reason [n rtype ^NamingException e]
  (cond
    (instance? NameNotFoundException e) (str "no such name " (absolute n) " (NXDOMAIN)")
    (instance? CommunicationException e) (str rtype " query for " n " got no answer (timed out)")
    (instance? ServiceUnavailableException e) (str rtype " query for " n ": server unavailable")
    :else (str rtype " query for " n ": " (or (ex-message e) (.getSimpleName (class e))))))

(defn- a-records
  "The IPv4 addresses of `n` (strings): JNDI on `server`, else the system resolver. Throws
  source-failed."
  [{:keys [cfg what server]} budget-ms n]
  (if server
    (try (records server budget-ms n "A")
         (catch NamingException e
           (throw (d/failed cfg (str what ": " (naming-reason n "A" e)) e))))
    (try (->> (InetAddress/getAllByName (str/replace n #"\.$" ""))
              (filter #(instance? Inet4Address %))
              (mapv #(.getHostAddress ^InetAddress %)))
         (catch UnknownHostException e
           (throw (d/failed cfg (str what ": no such host " n) e))))))

(defn- srv-candidates
  "The candidates from SRV records, or nil when there are none."
  [{:keys [cfg what server] :as src} deadline n]
  (let [left #(max 1 (- deadline (System/currentTimeMillis)))
        ;; half the time at most: a resolver that never answers SRV questions (some forward
        ;; them to an unreachable upstream) must leave time for the A records
        srv (try (records server (max 1 (quot (left) 2)) n "SRV")
                 (catch NameNotFoundException e
                   ;; with the system resolver, search domains or /etc/hosts may still know it
                   (if server (throw (d/failed cfg (str what ": " (naming-reason n "SRV" e)) e)) []))
                 (catch NamingException e
                   (if server (throw (d/failed cfg (str what ": " (naming-reason n "SRV" e)) e)) [])))
        targets (->> (keep parse-srv srv)
                     (sort-by (juxt :priority (comp - :weight) :target :port)))]
    (when (seq srv)
      (when (empty? targets)
        (throw (d/failed cfg (str what ": SRV records name no usable target: " (d/show srv)))))
      (vec (for [{:keys [port target]} targets
                 ip (a-records src (left) target)]
             {:host ip :port port})))))

(defrecord Dns [cfg what name port server]
  d/Source
  (candidates [this timeout-ms]
    (let [deadline (+ (System/currentTimeMillis) timeout-ms)]
      (or (srv-candidates this deadline name)
          (let [ips (a-records this (max 1 (- deadline (System/currentTimeMillis))) name)]
            (when (empty? ips)
              (throw (d/failed cfg (str what ": no SRV or A records for " name))))
            (mapv (fn [ip] {:host ip :port port}) ips))))))

(defmethod d/source :dns [{:keys [name port server] :or {port d/default-port} :as cfg}]
  (when-not (and (string? name) (re-matches #"[A-Za-z0-9_.-]+" name) (not (str/starts-with? name ".")))
    (throw (d/invalid cfg (str "dns: :name must be a DNS name, got " (d/show name)))))
  (when-not (and (int? port) (<= 1 port 65535))
    (throw (d/invalid cfg (str "dns " name ": :port must be a port number, got " (d/show port)))))
  (let [srv (when (some? server)
              (or (when-let [a (d/parse-address server)]
                    ;; a server written without a port listens on DNS's own port, not shoal's
                    (if (or (= server (:host a)) (and (map? server) (nil? (:port server))))
                      (assoc a :port 53)
                      a))
                  (throw (d/invalid cfg (str "dns " name ": :server must be \"host:port\", got "
                                             (d/show server))))))]
    (->Dns cfg (str "dns " name) name port srv)))
