(ns shoal.store.etcd
  "`shoal.store/Store` over etcd 3.4's v3 JSON gateway (grpc-gateway on the client port), with
  the JDK's `java.net.http.HttpClient`: no gRPC, no extra jars.

  The gateway's conventions, handled here so that callers see plain Clojure data:
  keys and values travel base64-encoded; 64-bit integers come back as JSON strings; fields
  equal to their zero value are omitted (absent = 0 / false / empty). Cluster and member ids are
  unsigned 64-bit, shown as hex; lease ids are signed longs.

  Endpoints: requests go to the endpoint that last answered, and on an I/O failure (refused,
  timeout, TLS) or an etcd `Unavailable` answer (no leader, leader changed) to the next ones in
  order, wrapping around. When none answers the call throws `:shoal.store/unavailable` with
  `:endpoints` and one error line per endpoint. Note that a request that timed out may still
  have been applied by the first endpoint before it is retried on the next one (as with any
  etcd client): callers of non-idempotent calls (`put-if-absent!`, `grant-lease!`) must
  tolerate that.

  TLS: mTLS without host name verification, through `shoal.http` (see why there)."
  (:require [clojure.core.async :as a]
            [clojure.data.json :as json]
            [clojure.string :as str]
            [clojure.tools.logging :as log]
            [shoal.http :as http]
            [shoal.loop :as lp]
            [shoal.store :as store])
  (:import (java.io BufferedReader Closeable IOException InputStream InputStreamReader)
           (java.net URI)
           (java.net.http HttpClient HttpClient$Redirect HttpClient$Version HttpRequest
                          HttpRequest$BodyPublishers HttpResponse HttpResponse$BodyHandlers)
           (java.nio ByteBuffer)
           (java.nio.charset StandardCharsets)
           (java.time Duration)
           (java.util Base64)
           (javax.net.ssl SSLContext SSLContextSpi SSLEngine SSLParameters)))

;; ---------------------------------------------------------------------------------------------
;; Encoding

(defn- b64 ^String [x]
  (.encodeToString (Base64/getEncoder)
                   (if (bytes? x) ^bytes x (.getBytes (str x) StandardCharsets/UTF_8))))

(defn- unb64 ^String [^String s]
  (when s (String. (.decode (Base64/getDecoder) s) StandardCharsets/UTF_8)))

(defn- int64 ^long [x]
  (cond (nil? x) 0 (string? x) (Long/parseLong x) :else (long x)))

(defn- uint64->hex [x]
  (if (nil? x) "0" (Long/toHexString (Long/parseUnsignedLong (str x)))))

(defn- hex->uint64 ^String [hex]
  (Long/toUnsignedString (Long/parseUnsignedLong (str hex) 16)))

(defn- kv->entry [kv]
  {:key (unb64 (:key kv))
   :value (or (unb64 (:value kv)) "")
   :mod-revision (int64 (:mod_revision kv))
   :lease (int64 (:lease kv))})

(defn- member->map [m]
  {:id (uint64->hex (:ID m))
   :name (or (:name m) "")
   :peer-urls (vec (:peerURLs m))
   :client-urls (vec (:clientURLs m))
   :learner? (boolean (:isLearner m))})

;; ---------------------------------------------------------------------------------------------
;; Requests with failover

(def ^:private grpc-unavailable 14)
(def ^:private grpc-not-found 5)

(defn- parse-body [^String body]
  (try (json/read-str body :key-fn keyword)
       (catch Exception _ nil)))

(defn- endpoint-order
  "Indexes of every endpoint, starting with the preferred one."
  [n start]
  (map #(mod (+ start %) n) (range n)))

(defn- call-endpoints
  "Calls `(f endpoint)` on each endpoint in turn until one returns without throwing
  `::retry`-marked ex-info or IOException. Remembers the endpoint that answered."
  [{:keys [endpoints preferred]} what f]
  (let [n (count endpoints)]
    (loop [[i & more] (endpoint-order n @preferred)
           errors []]
      (if (nil? i)
        (throw (store/unavailable (str "no etcd endpoint answered " what ": "
                                       (str/join "; " errors))
                                  {:endpoints endpoints :errors errors}))
        (let [ep (nth endpoints i)
              r (try {:ok (f ep)}
                     (catch IOException e {:err (str ep ": " (or (.getMessage e) (str (class e))))})
                     (catch clojure.lang.ExceptionInfo e
                       (if (::retry (ex-data e))
                         {:err (str ep ": " (ex-message e))}
                         (throw e))))]
          (if (contains? r :ok)
            (do (when-not (= i @preferred)
                  (log/info "etcd client now using endpoint" ep)
                  (reset! preferred i))
                (:ok r))
            (do (log/debug "etcd endpoint failed" (:err r))
                (recur more (conj errors (:err r))))))))))

(defn- post!
  "POSTs `body` (a map, as JSON) to `path` and returns the parsed answer. etcd errors become
  `:shoal.store/error` (or retry the next endpoint for `Unavailable`)."
  [{:keys [^HttpClient http timeout-ms] :as client} path body]
  (call-endpoints
   client path
   (fn [ep]
     (let [req (-> (HttpRequest/newBuilder (URI. (str ep path)))
                   (.timeout (Duration/ofMillis timeout-ms))
                   (.header "Content-Type" "application/json")
                   (.POST (HttpRequest$BodyPublishers/ofString (json/write-str body)))
                   (.build))
           resp (try (.send http req (HttpResponse$BodyHandlers/ofString))
                     (catch InterruptedException e
                       (.interrupt (Thread/currentThread))
                       (throw e)))
           status (.statusCode ^HttpResponse resp)
           parsed (parse-body (.body ^HttpResponse resp))]
       (cond
         (and (= 200 status) (map? parsed) (not (contains? parsed :error))) parsed

         (= grpc-unavailable (:code parsed))
         (throw (ex-info (str "unavailable: " (:message parsed)) {::retry true}))

         (and (nil? (:code parsed)) (>= status 500))
         (throw (ex-info (str "HTTP " status) {::retry true}))

         :else
         (throw (store/store-error (:code parsed status) (or (:message parsed) (.body ^HttpResponse resp))
                                   {:endpoint ep :path path :http-status status})))))))

(defn- lease-error?
  [e]
  (and (= :shoal.store/error (store/error-type e))
       (= grpc-not-found (:code (ex-data e)))))

;; ---------------------------------------------------------------------------------------------
;; Watch

(defn- watch-events
  "Store events from one watch response."
  [result]
  (for [ev (:events result)
        :let [kv (:kv ev)
              delete? (= "DELETE" (:type ev))]]
    {:type (if delete? :delete :put)
     :key (unb64 (:key kv))
     :value (when-not delete? (or (unb64 (:value kv)) ""))
     :revision (int64 (:mod_revision kv))}))

(defn- open-watch-stream
  "Opens the streaming watch on one endpoint; returns the InputStream (positioned after
  nothing: the `created` message is read by the caller)."
  ^InputStream [{:keys [^HttpClient http timeout-ms]} ep body]
  (let [req (-> (HttpRequest/newBuilder (URI. (str ep "/v3/watch")))
                ;; Until the response headers arrive; the stream itself has no timeout.
                (.timeout (Duration/ofMillis timeout-ms))
                (.header "Content-Type" "application/json")
                (.POST (HttpRequest$BodyPublishers/ofString (json/write-str body)))
                (.build))
        resp (.send http req (HttpResponse$BodyHandlers/ofInputStream))]
    (if (= 200 (.statusCode resp))
      (.body resp)
      (let [b (with-open [^InputStream in (.body resp)] (slurp in))]
        (throw (ex-info (str "watch refused: HTTP " (.statusCode resp) " " b) {::retry true}))))))

(defn- start-watch
  "Runs a watch on a named thread; see `shoal.store/watch-prefix`."
  [{:keys [endpoints watches] :as client} prefix {:keys [start-revision buffer] :or {buffer 256}}]
  (let [ch (a/chan buffer)
        cancelled? (atom false)
        current-stream (atom nil)
        established (promise)
        ;; the next revision to ask for after a reconnect
        next-rev (atom (when start-revision (long start-revision)))
        thread-ref (atom nil)
        cancel (fn []
                 (when (compare-and-set! cancelled? false true)
                   (swap! watches dissoc ch)
                   (when-let [^Closeable s @current-stream] (try (.close s) (catch Exception _)))
                   (some-> ^Thread @thread-ref .interrupt)
                   (a/close! ch)))
        connect (fn []
                  (call-endpoints
                   client "/v3/watch"
                   (fn [ep]
                     (let [body {:create_request
                                 (cond-> {:key (b64 prefix)
                                          :range_end (b64 (store/prefix-range-end prefix))}
                                   @next-rev (assoc :start_revision (str @next-rev)))}
                           in (open-watch-stream client ep body)
                           rdr (BufferedReader. (InputStreamReader. in StandardCharsets/UTF_8))
                           first-line (.readLine rdr)
                           created (:result (parse-body (or first-line "")))]
                       (if (:created created)
                         (do (reset! current-stream in)
                             (when-not @next-rev
                               (reset! next-rev (inc (int64 (get-in created [:header :revision])))))
                             rdr)
                         (do (.close in)
                             (throw (ex-info (str "watch not created: " first-line) {::retry true}))))))))
        deliver-lines
        (fn [^BufferedReader rdr]
          ;; -> :closed (consumer gone / cancelled), :compacted, or :eof (reconnect)
          (loop []
            (let [line (.readLine rdr)]
              (if (nil? line)
                :eof
                (let [msg (parse-body line)
                      result (:result msg)]
                  (cond
                    (:error msg) (throw (IOException. (str "watch stream error: " (:error msg))))
                    (pos? (int64 (:compact_revision result)))
                    (do (a/>!! ch {:type :error
                                   :error {:type :shoal.store/compacted
                                           :compact-revision (int64 (:compact_revision result))
                                           :prefix prefix}})
                        :compacted)
                    (:canceled result) :eof
                    :else
                    (let [evs (watch-events result)]
                      (if (every? #(a/>!! ch %) evs)
                        (do (when-let [r (:revision (last evs))] (reset! next-rev (inc r)))
                            (recur))
                        :closed))))))))
        run (fn []
              (try
                (loop [attempt 0 rdr (try (connect)
                                          (catch Throwable e (deliver established e) nil))]
                  (when rdr (deliver established :ok))
                  (when (and rdr (not @cancelled?))
                    (let [outcome (try (deliver-lines rdr)
                                       (catch IOException e
                                         (when-not @cancelled?
                                           (log/warn "etcd watch on" (pr-str prefix) "lost:" (.getMessage e)))
                                         :eof))]
                      (when-let [^Closeable s @current-stream] (try (.close s) (catch Exception _)))
                      (when (and (= outcome :eof) (not @cancelled?))
                        ;; Reconnect from the last delivered revision, with backoff + jitter.
                        (let [r (loop [attempt attempt]
                                  (when-not @cancelled?
                                    (Thread/sleep (lp/backoff-ms 100 5000 attempt))
                                    (or (try (connect)
                                             (catch clojure.lang.ExceptionInfo e
                                               (log/warn "etcd watch on" (pr-str prefix)
                                                         "cannot reconnect:" (ex-message e))
                                               nil))
                                        (recur (inc attempt)))))]
                          (recur 0 r))))))
                (catch InterruptedException _ nil)
                (catch Throwable e
                  (log/error e "etcd watch on" (pr-str prefix) "failed")
                  (a/>!! ch {:type :error :error (merge {:message (ex-message e)} (ex-data e))}))
                (finally
                  (deliver established :stopped)
                  (cancel))))
        t (doto (Thread. ^Runnable run (str "shoal-etcd-watch " prefix))
            (.setDaemon true))]
    (reset! thread-ref t)
    (swap! watches assoc ch cancel)
    (.start t)
    ;; each endpoint may take up to timeout-ms for the headers and as long for `created`
    (let [r (deref established (* 2 (:timeout-ms client) (max 1 (count endpoints))) ::timeout)]
      (cond
        (= :ok r) (store/watch ch cancel)
        (instance? Throwable r) (do (cancel) (throw r))
        :else (do (cancel)
                  (throw (store/unavailable (str "watch on " (pr-str prefix) " not established")
                                            {:endpoints endpoints})))))))

;; ---------------------------------------------------------------------------------------------
;; The store

;; The protocol is extended rather than implemented inline: its `close` and Closeable's `close`
;; cannot both be methods of the record class.
(defrecord EtcdStore [endpoints http timeout-ms preferred watches]
  Closeable
  (close [this] (store/close this)))

(extend-type EtcdStore
  store/Store
  (get [this key]
    (some-> (post! this "/v3/kv/range" {:key (b64 key)}) :kvs first kv->entry))

  (get-prefix [this prefix]
    (->> (post! this "/v3/kv/range" {:key (b64 prefix)
                                     :range_end (b64 (store/prefix-range-end prefix))
                                     :sort_order "ASCEND" :sort_target "KEY"})
         :kvs (mapv kv->entry)))

  (put!
    ([this key value] (store/put! this key value {}))
    ([this key value {:keys [lease]}]
     (try
       (-> (post! this "/v3/kv/put" (cond-> {:key (b64 key) :value (b64 value)}
                                      lease (assoc :lease (str lease))))
           (get-in [:header :revision]) int64)
       (catch clojure.lang.ExceptionInfo e
         (if (and lease (lease-error? e)) (throw (store/lease-not-found lease)) (throw e))))))

  (put-if-absent!
    ([this key value] (store/put-if-absent! this key value {}))
    ([this key value {:keys [lease]}]
     (try
       (-> (post! this "/v3/kv/txn"
                  {:compare [{:key (b64 key) :target "CREATE" :result "EQUAL" :create_revision "0"}]
                   :success [{:request_put (cond-> {:key (b64 key) :value (b64 value)}
                                             lease (assoc :lease (str lease)))}]})
           :succeeded boolean)
       (catch clojure.lang.ExceptionInfo e
         (if (and lease (lease-error? e)) (throw (store/lease-not-found lease)) (throw e))))))

  (delete! [this key]
    (pos? (int64 (:deleted (post! this "/v3/kv/deleterange" {:key (b64 key)})))))

  (delete-prefix! [this prefix]
    (when (empty? prefix)
      (throw (ex-info "delete-prefix! needs a non-empty prefix" {:type :shoal.store/error :code nil
                                                                  :message "empty prefix"})))
    (int64 (:deleted (post! this "/v3/kv/deleterange"
                            {:key (b64 prefix) :range_end (b64 (store/prefix-range-end prefix))}))))

  (grant-lease! [this ttl-seconds]
    (int64 (:ID (post! this "/v3/lease/grant" {:TTL (str (long ttl-seconds))}))))

  (keep-alive! [this lease-id]
    ;; The gateway maps the keepalive stream to one request/one answer, wrapped in "result";
    ;; an unknown lease answers TTL 0 (absent) rather than an error.
    (let [ttl (int64 (get-in (post! this "/v3/lease/keepalive" {:ID (str lease-id)}) [:result :TTL]))]
      (if (pos? ttl) ttl (throw (store/lease-not-found lease-id)))))

  (revoke-lease! [this lease-id]
    (try (post! this "/v3/lease/revoke" {:ID (str lease-id)}) true
         (catch clojure.lang.ExceptionInfo e
           (if (lease-error? e) false (throw e)))))

  (watch-prefix
    ([this prefix] (store/watch-prefix this prefix {}))
    ([this prefix opts] (start-watch this prefix opts)))

  (status [this]
    (let [r (post! this "/v3/maintenance/status" {})]
      {:cluster-id (uint64->hex (get-in r [:header :cluster_id]))
       :member-id (uint64->hex (get-in r [:header :member_id]))
       :leader (uint64->hex (:leader r))
       :version (:version r)
       :db-size (int64 (:dbSize r))
       :raft-index (int64 (:raftIndex r))
       :raft-term (int64 (:raftTerm r))
       :learner? (boolean (:isLearner r))}))

  (members [this]
    (mapv member->map (:members (post! this "/v3/cluster/member/list" {}))))

  (member-add! [this peer-urls learner?]
    (member->map (:member (post! this "/v3/cluster/member/add"
                                 {:peerURLs (vec peer-urls) :isLearner (boolean learner?)}))))

  (member-promote! [this member-id]
    (mapv member->map (:members (post! this "/v3/cluster/member/promote"
                                       {:ID (hex->uint64 member-id)}))))

  (member-remove! [this member-id]
    (mapv member->map (:members (post! this "/v3/cluster/member/remove"
                                       {:ID (hex->uint64 member-id)}))))

  (member-update! [this member-id peer-urls]
    (mapv member->map (:members (post! this "/v3/cluster/member/update"
                                       {:ID (hex->uint64 member-id) :peerURLs (vec peer-urls)}))))

  (close [this]
    (doseq [[_ cancel] @(:watches this)] (cancel))))

(defn connect
  "A `shoal.store/Store` client of the etcd cluster at `:endpoints` (client URLs, e.g.
  `[\"https://127.0.0.1:2379\"]`, tried in order). Options:
  - `:ssl-context` an `javax.net.ssl.SSLContext` holding this node's key and the cluster CA,
    for https endpoints (mTLS; host names are not verified, see the ns doc), or nil.
  - `:timeout-ms` per-request connect and answer timeout (default 2000).
  Connects lazily: nothing is sent until the first call. `close` (or `.close`) cancels the
  client's watches; the JDK HttpClient itself needs no closing on JDK 17."
  [{:keys [endpoints ssl-context timeout-ms] :or {timeout-ms 2000}}]
  (when (empty? endpoints)
    (throw (ex-info "etcd client needs at least one endpoint"
                    {:type :shoal.store/error :code nil :message "no endpoints"})))
  (map->EtcdStore {:endpoints (mapv #(str/replace (str %) #"/+$" "") endpoints)
                   :http (http/client {:ssl-context ssl-context :timeout-ms timeout-ms})
                   :timeout-ms timeout-ms
                   :preferred (atom 0)
                   ;; channel -> cancel fn of each open watch
                   :watches (atom {})}))
