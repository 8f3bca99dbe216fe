(ns shoal.hub.etcd
  "etcd as a supervised child process of a hub node.

  Life cycle: `start` (the component) only prepares; `run-etcd!` launches etcd as the hub's
  role requires (originate a cluster: `:new`; join one after `member-add!`: `:existing`);
  `wait-healthy!` blocks until it serves; `stop-etcd!` (and component stop / `.close`) stops it
  for good. Between the two, a supervisor thread restarts etcd whenever it exits on its own
  (crash, OOM kill, `kill -9`), with exponential backoff and jitter, from the same data dir, so
  the member keeps its identity and data. A demotion that deletes the data is the caller's job,
  after `stop-etcd!`.

  Restarts: when `<data-dir>/member` exists etcd restarts as the member recorded there and
  ignores `--initial-cluster*` flags; that is what makes restarts (and node reboots) safe.

  The process's stdout and stderr are appended to `:log-file`; its last lines go into the
  WARN logged on each unexpected exit and into the `:shoal.hub/unhealthy` error.

  Errors (ex-info `:type`): `:shoal.hub/invalid-options` (start), `:shoal.hub/etcd-binary-not-found`,
  `:shoal.hub/etcd-start-failed`, `:shoal.hub/etcd-already-running` (run-etcd!),
  `:shoal.hub/unhealthy` (wait-healthy!)."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.tools.logging :as log]
            [shoal.http :as http]
            [shoal.loop :as lp])
  (:import (java.io Closeable File RandomAccessFile)
           (java.net URI)
           (java.net.http HttpClient HttpRequest HttpResponse HttpResponse$BodyHandlers)
           (java.time Duration)
           (java.util.concurrent TimeUnit)))

;; ---------------------------------------------------------------------------------------------
;; URLs and flags

(defn- wildcard? [host] (contains? #{"0.0.0.0" "::" "[::]" ""} (str host)))

(defn- url [tls? host port]
  (str (if tls? "https" "http") "://" host ":" port))

(defn client-url
  "The client URL a process on this machine uses to reach this etcd (the listen host, or
  127.0.0.1 when etcd listens on every address)."
  [{:keys [opts]}]
  (let [{:keys [host port]} (:listen-client opts)]
    (url (:tls opts) (if (wildcard? host) "127.0.0.1" host) port)))

(defn advertise-client-url
  "The client URL other nodes use: `:advertise-host` and the client port."
  [{:keys [opts]}]
  (url (:tls opts) (:advertise-host opts) (get-in opts [:listen-client :port])))

(defn peer-url
  "The peer URL advertised to the other members: `:advertise-host` and the peer port. This is
  what `member-add!` and `:initial-cluster` name."
  [{:keys [opts]}]
  (url (:tls opts) (:advertise-host opts) (get-in opts [:listen-peer :port])))

(defn- etcd-args
  "The command line of etcd for `opts` and one run's `run-opts`."
  [{:keys [binary data-dir name listen-client listen-peer tls extra-args] :as opts}
   {:keys [initial-cluster initial-cluster-state initial-cluster-token]} hub]
  (let [tls? (boolean tls)]
    (cond-> [binary
             "--name" name
             "--data-dir" (str data-dir)
             "--listen-client-urls" (url tls? (:host listen-client) (:port listen-client))
             "--advertise-client-urls" (advertise-client-url hub)
             "--listen-peer-urls" (url tls? (:host listen-peer) (:port listen-peer))
             "--initial-advertise-peer-urls" (peer-url hub)
             "--initial-cluster" (or initial-cluster (str name "=" (peer-url hub)))
             "--initial-cluster-state" (clojure.core/name (or initial-cluster-state :new))
             "--initial-cluster-token" (or initial-cluster-token (:initial-cluster-token opts) "shoal")]
      tls? (into ["--cert-file" (str (:cert tls)) "--key-file" (str (:key tls))
                  "--trusted-ca-file" (str (:ca tls)) "--client-cert-auth=true"
                  "--peer-cert-file" (str (:cert tls)) "--peer-key-file" (str (:key tls))
                  "--peer-trusted-ca-file" (str (:ca tls)) "--peer-client-cert-auth=true"])
      (seq extra-args) (into (map str extra-args)))))

;; ---------------------------------------------------------------------------------------------
;; Log tail

(defn- log-tail
  "The last `n` lines of the file at `path` (reads at most its last 16 KiB), or \"\"."
  [path n]
  (try
    (with-open [f (RandomAccessFile. (io/file path) "r")]
      (let [len (.length f)
            start (max 0 (- len 16384))
            buf (byte-array (- len start))]
        (.seek f start)
        (.readFully f buf)
        (->> (str/split-lines (String. buf "UTF-8"))
             (take-last n)
             (str/join "\n"))))
    (catch Exception _ "")))

;; ---------------------------------------------------------------------------------------------
;; Process and supervisor

(defn- check-binary! [binary]
  (let [f (io/file (str binary))]
    (when-not (and (.isFile f) (.canExecute f))
      (throw (ex-info (str "etcd binary not found or not executable: " binary)
                      {:type :shoal.hub/etcd-binary-not-found :binary (str binary)})))))

(defn- pid-file ^java.io.File [{:keys [opts]}]
  (io/file (str (:data-dir opts) ".pid")))

(defn- kill-orphan!
  "An etcd left running on this data dir by a node JVM that was killed (SIGKILL, no shutdown
  hook) would hold the ports and serve unsupervised. Its pid is in `<data-dir>.pid`: if that
  process is alive and is an etcd on this data dir, stop it (SIGTERM, then SIGKILL)."
  [{:keys [opts] :as hub}]
  (let [f (pid-file hub)]
    (when (.exists f)
      (let [pid (try (Long/parseLong (str/trim (slurp f))) (catch Exception _ nil))
            ^java.lang.ProcessHandle ph (when pid (.orElse (java.lang.ProcessHandle/of (long pid)) nil))
            cmdline (some-> ph .info .arguments (.orElse nil) seq)]
        (when (and ph (.isAlive ph) (some #(= % (str (:data-dir opts))) cmdline))
          (log/warn "etcd" (:name opts) ": an orphaned etcd (pid" pid ") still runs on" (:data-dir opts) "- stopping it")
          (.destroy ph)
          (when-not (try (.get (.onExit ph) 10 java.util.concurrent.TimeUnit/SECONDS) true
                         (catch java.util.concurrent.TimeoutException _ false))
            (.destroyForcibly ph)
            (try (.get (.onExit ph) 10 java.util.concurrent.TimeUnit/SECONDS)
                 (catch java.util.concurrent.TimeoutException _ nil))))))))

(defn- launch!
  "Starts etcd; returns the Process. Called with the hub's lock held."
  ^Process [{:keys [opts state] :as hub}]
  (let [{:keys [binary data-dir log-file name]} opts
        args (etcd-args opts (:run-opts @state) hub)
        log-f (io/file log-file)]
    (check-binary! binary)
    (some-> log-f .getAbsoluteFile .getParentFile .mkdirs)
    (some-> (io/file data-dir) .getAbsoluteFile .getParentFile .mkdirs)
    (when (.exists (io/file data-dir "member"))
      (log/info "etcd" name "restarting from the member data in" (str data-dir)))
    (let [^Process p (try
              (-> (ProcessBuilder. ^java.util.List args)
                  (.redirectErrorStream true)
                  (.redirectOutput (java.lang.ProcessBuilder$Redirect/appendTo log-f))
                  (.start))
              (catch java.io.IOException e
                (throw (ex-info (str "cannot start etcd: " (.getMessage e))
                                {:type :shoal.hub/etcd-start-failed :binary binary :args args}
                                e))))]
      (spit (pid-file hub) (str (.pid p) "\n"))
      (log/info "etcd" name "started, pid" (.pid p) "client" (client-url hub) "peer" (peer-url hub))
      (swap! state assoc :process p :started-at (System/currentTimeMillis))
      p)))

(def ^:private stable-ms
  "A process that ran this long before exiting resets the backoff."
  30000)

(defn- supervise
  "The supervisor loop: waits for the current process to exit; if the exit was not asked for,
  records it, logs it and restarts etcd after a backoff, until `stop-etcd!`."
  [{:keys [opts state lock] :as hub}]
  (loop [attempt 0]
    (let [{:keys [^Process process started-at]} @state]
      (when process
        (let [code (.waitFor process)]
          (when (:want-running? @state)
            (let [now (System/currentTimeMillis)
                  attempt (if (> (- now (or started-at now)) stable-ms) 0 attempt)
                  delay (lp/backoff-ms 500 10000 attempt)]
              (swap! state assoc :last-exit {:code code :at now})
              (log/warn "etcd" (:name opts) "exited unexpectedly with code" code
                        "- restarting in" delay "ms; last lines of" (:log-file opts) ":\n"
                        (log-tail (:log-file opts) 10))
              (Thread/sleep delay)
              (let [restarted? (locking lock
                                 (when (:want-running? @state)
                                   (try (launch! hub)
                                        (swap! state update :restarts inc)
                                        true
                                        (catch Exception e
                                          (log/warn "etcd" (:name opts) "restart failed:" (ex-message e))
                                          ;; keep the dead process as current: waitFor returns at
                                          ;; once; count this failed start as a (short) run, so
                                          ;; the backoff grows instead of starting over
                                          (swap! state assoc :started-at (System/currentTimeMillis))
                                          false))))]
                (when (some? restarted?)
                  (recur (inc attempt)))))))))))

(defn- start-supervisor! [{:keys [opts state] :as hub}]
  (let [t (lp/supervised-thread (str "shoal-etcd-supervisor-" (:name opts))
                                  #(supervise hub)
                                  (select-keys opts [:on-fatal]))]
    (swap! state assoc :supervisor t)
    t))

;; ---------------------------------------------------------------------------------------------
;; Component

(declare stop-etcd! info)

(defrecord EtcdHub [opts state lock]
  Closeable
  (close [this] (stop-etcd! this)))

(defn start
  "Component start: returns the hub's etcd component without starting etcd (a node becomes a
  hub, and runs etcd, only when the cluster says so; see `run-etcd!`). Opts:
  - `:binary` path of etcd (default \"/usr/bin/etcd\")
  - `:data-dir` etcd's data dir (the member lives in `<data-dir>/member`)
  - `:name` the member name (the node id)
  - `:listen-client`, `:listen-peer` `{:host :port}` (host may be 0.0.0.0)
  - `:advertise-host` the address other nodes reach this one at (default 127.0.0.1)
  - `:tls` `{:cert :key :ca}` PEM file paths, or nil for plain http (tests only): the same
    node certificate serves clients and peers, and both sides require client certificates
  - `:ssl-context` the SSLContext `wait-healthy!` dials with (needed with `:tls`)
  - `:log-file` where etcd's stdout/stderr are appended (default `<data-dir>.log`)
  - `:initial-cluster-token` (default \"shoal\"), `:extra-args` more etcd flags (strings).
  Deps: none."
  [opts _deps]
  (let [opts (merge {:binary "/usr/bin/etcd" :advertise-host "127.0.0.1"} opts)
        opts (update opts :log-file #(or % (str (:data-dir opts) ".log")))]
    (doseq [k [:data-dir :name :listen-client :listen-peer]]
      (when-not (get opts k)
        (throw (ex-info (str "shoal.hub.etcd needs " k) {:type :shoal.hub/invalid-options :key k}))))
    (->EtcdHub opts
               (atom {:want-running? false :process nil :restarts 0 :last-exit nil
                      :run-opts nil :supervisor nil})
               (Object.))))

(defn running?
  "True while the etcd process is alive."
  [{:keys [state]}]
  (boolean (some-> ^Process (:process @state) .isAlive)))

(defn supervised?
  "True from `run-etcd!` to `stop-etcd!`: etcd is wanted, even while the supervisor waits to
  restart it after a crash (then `running?` is false)."
  [{:keys [state]}]
  (boolean (:want-running? @state)))

(defn run-etcd!
  "Starts etcd and its supervisor. Run opts:
  - `:initial-cluster-state` `:new` (originate) or `:existing` (join after `member-add!`)
  - `:initial-cluster` \"name=peer-url,...\" (default: this member alone)
  - `:initial-cluster-token` (default the component's, else \"shoal\").
  With an existing `<data-dir>/member`, etcd restarts from it and these are ignored.
  Returns `(info hub)` right after launching (not yet healthy: see `wait-healthy!`). Throws
  `:shoal.hub/etcd-binary-not-found`, `:shoal.hub/etcd-start-failed`, or
  `:shoal.hub/etcd-already-running` if it runs already."
  [{:keys [opts state lock] :as hub} run-opts]
  (locking lock
    (when (:want-running? @state)
      (throw (ex-info (str "etcd " (:name opts) " is already running")
                      {:type :shoal.hub/etcd-already-running :name (:name opts)})))
    (kill-orphan! hub)
    (swap! state assoc :run-opts run-opts :want-running? true)
    (try (launch! hub)
         (catch Exception e
           (swap! state assoc :want-running? false)
           (throw e)))
    ;; If the JVM exits without stopping the component, etcd must not outlive it.
    (let [hook (Thread. ^Runnable #(stop-etcd! hub) (str "shoal-etcd-shutdown-" (:name opts)))]
      (.addShutdownHook (Runtime/getRuntime) hook)
      (swap! state assoc :shutdown-hook hook))
    (start-supervisor! hub))
  (info hub))

(defn info
  "`{:running? :pid :restarts :last-exit {:code :at}}`: `:restarts` counts restarts by the
  supervisor since the component started (across `run-etcd!` calls); `:last-exit` is the last unexpected exit (`:at` epoch ms) or nil."
  [{:keys [state] :as hub}]
  (let [{:keys [^Process process restarts last-exit]} @state]
    {:running? (running? hub)
     :pid (when (running? hub) (.pid process))
     :restarts restarts
     :last-exit last-exit}))

(defn restarts
  "How many times the supervisor restarted etcd."
  [hub]
  (:restarts @(:state hub)))

(defn wait-healthy!
  "Blocks until GET `<client-url>/health` answers `{\"health\":\"true\"}` (etcd serves and has a
  leader), polling every 250 ms. Throws `:shoal.hub/unhealthy` with `:last-error` and
  `:log-tail` when `timeout-ms` passes first. Returns true."
  [{:keys [opts] :as hub} timeout-ms]
  (let [^HttpClient http (http/client {:ssl-context (:ssl-context opts) :timeout-ms 1000})
        uri (URI. (str (client-url hub) "/health"))
        deadline (+ (System/currentTimeMillis) timeout-ms)]
    (loop []
      (let [err (try
                  (let [^HttpResponse r (.send http (-> (HttpRequest/newBuilder uri)
                                                        (.timeout (Duration/ofMillis 1000))
                                                        (.GET) (.build))
                                               (HttpResponse$BodyHandlers/ofString))]
                    (if (and (= 200 (.statusCode r)) (str/includes? (str (.body r)) "\"true\""))
                      nil
                      (str "HTTP " (.statusCode r) " " (.body r))))
                  (catch java.io.IOException e (str (class e) ": " (.getMessage e))))]
        (cond
          (nil? err) true
          (> (System/currentTimeMillis) deadline)
          (throw (ex-info (str "etcd " (:name opts) " not healthy after " timeout-ms " ms: " err)
                          {:type :shoal.hub/unhealthy :name (:name opts) :client-url (client-url hub)
                           :last-error err :info (info hub)
                           :log-tail (log-tail (:log-file opts) 30)}))
          :else (do (Thread/sleep 250) (recur)))))))

(defn stop-etcd!
  "Stops etcd for good: the supervisor will not restart it. SIGTERM (`Process.destroy`), up to
  10 s for a clean exit, then SIGKILL. Waits for the supervisor thread to end. Idempotent;
  returns nil."
  [{:keys [opts state lock]}]
  (let [[^Process p ^Thread sup ^Thread hook]
        (locking lock
          (let [{:keys [process supervisor shutdown-hook]} @state]
            (swap! state assoc :want-running? false :shutdown-hook nil)
            [process supervisor shutdown-hook]))]
    (when (and hook (not= hook (Thread/currentThread)))
      (try (.removeShutdownHook (Runtime/getRuntime) hook)
           (catch IllegalStateException _ nil)))
    (when (and p (.isAlive p))
      (log/info "etcd" (:name opts) "stopping, pid" (.pid p))
      (.destroy p)
      (when-not (.waitFor p 10 TimeUnit/SECONDS)
        (log/warn "etcd" (:name opts) "did not exit within 10 s of SIGTERM: killing it")
        (.destroyForcibly p)
        (.waitFor p 10 TimeUnit/SECONDS)))
    (when sup
      ;; it may be sleeping in a backoff
      (.interrupt sup)
      (.join sup 10000))
    (swap! state assoc :supervisor nil)
    nil))

(defn stop
  "Component stop: `stop-etcd!`."
  [hub]
  (stop-etcd! hub))
