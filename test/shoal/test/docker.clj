(ns shoal.test.docker
  "A thin wrapper over the `docker` CLI for end-to-end tests: one function per verb, each
  running `docker` through a ProcessBuilder with explicit arguments (never a shell string),
  returning its trimmed stdout and throwing `:shoal.test/docker-failed` (with the arguments, the
  exit code and stderr) when docker exits non-zero.

  Everything a test creates carries the label `shoal.test=<run-id>` (plus the creating JVM's pid
  and the creation time), so `cleanup!` can remove one run's containers and networks, and
  `cleanup-stale!` those of runs whose test process died without cleaning up. Several test
  processes may share one Docker engine: nothing here touches what another live run created.

  Containers are named by the caller; `inspect` gives Docker's JSON with keyword keys
  (`(get-in (inspect c) [:State :Status])`)."
  (:refer-clojure :exclude [run!])
  (:require [clojure.data.json :as json]
            [clojure.java.io :as io]
            [clojure.string :as str])
  (:import (java.io File)
           (java.security MessageDigest)
           (java.util.concurrent TimeUnit)))

(def label
  "The label key that marks everything a test creates; its value is the run id."
  "shoal.test")

(def default-timeout-ms
  "How long one docker command may take before it is killed and reported as failed."
  120000)

;; ---------------------------------------------------------------------------------------------
;; running docker

(defn- drain
  "Reads `stream` to a string on a future (stdout and stderr must be read at the same time,
  or a chatty command blocks on a full pipe)."
  [stream]
  (future (slurp stream)))

(defn exec!
  "Runs `docker` with `args` (strings, or anything `str` makes one; nils are dropped).
  Options: `:timeout-ms` (default `default-timeout-ms`), `:merge-stderr?` (stderr interleaved
  into the returned output, as `docker logs` needs), `:check?` (default true: throw on a
  non-zero exit). Returns `{:exit n :out s :err s}` with `:out` trimmed."
  [{:keys [timeout-ms merge-stderr? check?] :or {timeout-ms default-timeout-ms check? true}} args]
  (let [argv (into ["docker"] (comp (remove nil?) (map str)) args)
        pb (doto (ProcessBuilder. ^java.util.List argv)
             (.redirectErrorStream (boolean merge-stderr?))
             (.redirectInput (java.lang.ProcessBuilder$Redirect/from (io/file "/dev/null"))))
        _ (.put (.environment pb) "DOCKER_BUILDKIT" "0")
        p (.start pb)
        out (drain (.getInputStream p))
        err (drain (.getErrorStream p))
        done? (.waitFor p timeout-ms TimeUnit/MILLISECONDS)]
    (when-not done?
      (.destroyForcibly p)
      (throw (ex-info (str "docker " (str/join " " (rest argv)) " took more than " timeout-ms " ms")
                      {:type :shoal.test/docker-failed :args (vec (rest argv)) :exit nil
                       :timeout-ms timeout-ms})))
    (let [result {:exit (.exitValue p) :out (str/trim @out) :err (str/trim @err)}]
      (when (and check? (not (zero? (:exit result))))
        (throw (ex-info (str "docker " (str/join " " (rest argv)) " failed (exit " (:exit result) "): "
                             (:err result))
                        {:type :shoal.test/docker-failed :args (vec (rest argv))
                         :exit (:exit result) :stderr (:err result)})))
      result)))

(defn docker!
  "Runs `docker args...`; returns its trimmed stdout. Throws ex-info `:shoal.test/docker-failed`
  `{:args :exit :stderr}` on a non-zero exit (or after `default-timeout-ms`)."
  [& args]
  (:out (exec! {} args)))

(defn- lines [s] (remove str/blank? (str/split-lines (or s ""))))

(defn- flag-pairs
  "[\"--label\" \"a=b\" \"--label\" \"c=d\"] from `flag` and a seq of values."
  [flag values]
  (mapcat (fn [v] [flag v]) values))

(defn- owner-labels
  "The labels that tie a container or network to the run `run-id` of this JVM."
  [run-id]
  {label run-id
   (str label ".pid") (str (.pid (java.lang.ProcessHandle/current)))
   (str label ".started") (str (System/currentTimeMillis))})

(defn- label-flags [run-id labels]
  (flag-pairs "--label" (for [[k v] (merge (when run-id (owner-labels run-id)) labels)]
                          (str (name k) "=" v))))

(defn ensure-engine!
  "Returns the Docker engine's version, or throws `:shoal.test/no-docker` saying how to get one
  (the e2e tests need a running dockerd; nothing starts it for them)."
  []
  (let [r (try (exec! {:check? false :timeout-ms 20000} ["version" "--format" "{{.Server.Version}}"])
               (catch java.io.IOException e {:exit -1 :err (ex-message e)}))]
    (if (zero? (:exit r))
      (:out r)
      (throw (ex-info (str "the Docker engine does not answer (" (:err r) "); install it with "
                           "bin/setup --docker and start it with: dockerd >/tmp/dockerd.log 2>&1 &")
                      {:type :shoal.test/no-docker :stderr (:err r)})))))

;; ---------------------------------------------------------------------------------------------
;; inspecting

(defn inspect
  "`docker inspect` of one container, network or image, as a map with keyword keys; nil when
  it does not exist."
  [what]
  (let [{:keys [exit out]} (exec! {:check? false} ["inspect" what])]
    (when (zero? exit)
      (first (json/read-str out :key-fn keyword)))))

(defn- inspect! [what]
  (or (inspect what)
      (throw (ex-info (str "no such container, network or image: " what)
                      {:type :shoal.test/docker-failed :args ["inspect" what] :exit 1}))))

(defn state
  "The container's state as a keyword (`:running`, `:paused`, `:exited`, `:created`,
  `:restarting`, `:dead`), or nil when there is no such container."
  [container]
  (some-> (inspect container) :State :Status keyword))

(defn running?
  "Whether the container runs and is not paused."
  [container]
  (= :running (state container)))

(defn exit-code
  "The exit code of a container that has stopped; nil while it runs (or never ran)."
  [container]
  (let [s (:State (inspect! container))]
    (when (#{"exited" "dead"} (:Status s))
      (:ExitCode s))))

(defn networks-of
  "`{network-name ip}` of every network the container is connected to (ip nil when Docker
  gave it none, e.g. while it is stopped)."
  [container]
  (into {} (for [[net m] (get-in (inspect! container) [:NetworkSettings :Networks])]
             [(name net) (not-empty (:IPAddress m))])))

(defn ip-of
  "The container's IPv4 address on `network` (or on its only/first network); nil when it has
  none there."
  ([container]
   (first (vals (networks-of container))))
  ([container network]
   (get (networks-of container) network)))

(defn logs
  "The container's output, stdout and stderr interleaved. Options: `:tail n` (last n lines)."
  ([container] (logs container {}))
  ([container {:keys [tail]}]
   (:out (exec! {:merge-stderr? true :check? false}
                (concat ["logs"] (when tail ["--tail" tail]) [container])))))

;; ---------------------------------------------------------------------------------------------
;; networks

(defn- ip->long [s]
  (reduce (fn [acc part] (+ (* acc 256) (Long/parseLong part))) 0 (str/split s #"\.")))

(defn- long->ip [n]
  (str/join "." (for [shift [24 16 8 0]] (bit-and (bit-shift-right n shift) 255))))

(defn- parse-cidr
  "[base prefix-length] of an IPv4 CIDR; nil for IPv6 or garbage."
  [cidr]
  (when-let [[_ ip len] (re-matches #"(\d+\.\d+\.\d+\.\d+)/(\d+)" (str cidr))]
    [(ip->long ip) (Long/parseLong len)]))

(defn- mask [len] (bit-and 0xFFFFFFFF (bit-shift-left 0xFFFFFFFF (- 32 len))))

(defn cidr-overlap?
  "Whether two IPv4 CIDRs share an address."
  [a b]
  (let [[ba la] (parse-cidr a) [bb lb] (parse-cidr b)
        m (mask (min la lb))]
    (= (bit-and ba m) (bit-and bb m))))

(defn subnet-host
  "The address `n` in `subnet` (e.g. (subnet-host \"172.30.4.0/24\" 10) => \"172.30.4.10\")."
  [subnet n]
  (long->ip (+ (first (parse-cidr subnet)) n)))

(defn- host-subnets
  "The IPv4 subnets of the host's own interfaces, as CIDRs."
  []
  (for [^java.net.NetworkInterface nif (enumeration-seq (java.net.NetworkInterface/getNetworkInterfaces))
        ^java.net.InterfaceAddress a (.getInterfaceAddresses nif)
        :when (instance? java.net.Inet4Address (.getAddress a))]
    (str (.getHostAddress (.getAddress a)) "/" (.getNetworkPrefixLength a))))

(defn used-subnets
  "Every IPv4 subnet in use on this host: those of Docker's networks and of the host's interfaces."
  []
  (let [ids (lines (docker! "network" "ls" "-q"))]
    (concat (when (seq ids)
              (for [n (json/read-str (apply docker! "network" "inspect" ids) :key-fn keyword)
                    c (get-in n [:IPAM :Config])
                    :when (parse-cidr (:Subnet c))]
                (:Subnet c)))
            (host-subnets))))

(def subnet-candidates
  "Where test networks come from: the /24s of 172.30.0.0/16, then of 10.230.0.0/16."
  (concat (for [n (range 256)] (str "172.30." n ".0/24"))
          (for [n (range 256)] (str "10.230." n ".0/24"))))

(defn free-subnet
  "A /24 from `subnet-candidates` that overlaps nothing in `used-subnets`, chosen at random among
  the free ones (so that test processes racing for a subnet rarely pick the same)."
  []
  (let [used (used-subnets)
        free (remove (fn [c] (some #(cidr-overlap? c %) used)) subnet-candidates)]
    (or (some-> (seq free) (->> (take 64)) rand-nth)
        (throw (ex-info "no free subnet for a test network" {:type :shoal.test/no-subnet :used used})))))

(defn network-create!
  "Creates a bridge network `net-name` labelled with `run-id`; returns `{:name :subnet :gateway}`.
  With no `:subnet`, picks a free /24 (`free-subnet`) and retries with another when Docker says
  another process took it meanwhile. Options: `:subnet`, `:labels` (map), `:internal?`."
  [net-name {:keys [run-id subnet labels internal?]}]
  (loop [attempt 1]
    (let [sub (or subnet (free-subnet))
          gateway (subnet-host sub 1)
          result (try (apply docker! "network" "create" "--driver" "bridge"
                             "--subnet" sub "--gateway" gateway
                             (concat (when internal? ["--internal"])
                                     (label-flags run-id labels)
                                     [net-name]))
                      {:name net-name :subnet sub :gateway gateway}
                      (catch clojure.lang.ExceptionInfo e
                        (if (and (nil? subnet) (< attempt 5)
                                 (re-find #"(?i)overlap" (str (:stderr (ex-data e)))))
                          ::retry
                          (throw e))))]
      (if (= ::retry result) (recur (inc attempt)) result))))

(defn network-rm!
  "Removes the network, first disconnecting (forcibly) whatever is still attached to it.
  A network that does not exist is not an error."
  [net]
  (when-let [n (inspect net)]
    (doseq [[_ c] (:Containers n)]
      (exec! {:check? false} ["network" "disconnect" "-f" net (:Name c)]))
    (docker! "network" "rm" net)
    nil))

(defn disconnect!
  "Disconnects the container from the network (forcibly: works on stopped containers too)."
  [container net]
  (docker! "network" "disconnect" "-f" net container)
  nil)

(defn connect!
  "Connects the container to the network. Options: `:ip` (a fixed address in the network's
  subnet), `:aliases` (DNS names on that network: an alias does not survive a disconnect, so
  pass it again)."
  ([container net] (connect! container net {}))
  ([container net {:keys [ip aliases]}]
   (apply docker! "network" "connect"
          (concat (when ip ["--ip" ip]) (flag-pairs "--alias" aliases) [net container]))
   nil))

;; ---------------------------------------------------------------------------------------------
;; containers

(defn run!
  "`docker run -d` of `image`; returns the container id. Options:
    :name       container name (at least two characters)
    :run-id     labels it `shoal.test=<run-id>` (so `cleanup!` finds it)
    :network    network name; :ip a fixed address on it; :aliases DNS names on it
    :hostname   the container's host name
    :labels     extra labels (map)
    :env        environment (map)
    :volumes    [\"/host:/container\" ...]
    :args       extra `docker run` arguments, before the image
    :cmd        command and arguments, after the image"
  [image {:keys [name run-id network ip aliases hostname labels env volumes args cmd]}]
  (apply docker! "run" "-d"
         (concat (when name ["--name" name])
                 (when hostname ["--hostname" hostname])
                 (when network ["--network" network])
                 (when ip ["--ip" ip])
                 (flag-pairs "--network-alias" aliases)
                 (label-flags run-id labels)
                 (flag-pairs "--env" (for [[k v] env] (str (clojure.core/name k) "=" v)))
                 (flag-pairs "--volume" volumes)
                 args
                 [image]
                 cmd)))

(defn kill!
  "SIGKILL: the process dies at once, with no chance to leave."
  [container]
  (docker! "kill" "--signal" "KILL" container)
  nil)

(defn stop!
  "SIGTERM, then SIGKILL after `timeout-s` (default 10) seconds; returns when it has stopped."
  ([container] (stop! container 10))
  ([container timeout-s]
   (exec! {:timeout-ms (+ default-timeout-ms (* 1000 timeout-s))}
          ["stop" "--time" timeout-s container])
   nil))

(defn start!
  "Starts a stopped container (same name, same volumes, same network endpoints)."
  [container]
  (docker! "start" container)
  nil)

(defn restart!
  "Stops (SIGTERM, SIGKILL after `timeout-s`, default 10) and starts the container again."
  ([container] (restart! container 10))
  ([container timeout-s]
   (exec! {:timeout-ms (+ default-timeout-ms (* 1000 timeout-s))}
          ["restart" "--time" timeout-s container])
   nil))

(defn pause!
  "Freezes every process of the container (cgroup freezer): it keeps its address and sockets
  but answers nothing, like a machine that hangs."
  [container]
  (docker! "pause" container)
  nil)

(defn unpause!
  "Thaws a paused container."
  [container]
  (docker! "unpause" container)
  nil)

(defn rm!
  "Removes the container, running or not, with its anonymous volumes. A container that does
  not exist is not an error."
  [container]
  (exec! {:check? false} ["rm" "--force" "--volumes" container])
  nil)

;; ---------------------------------------------------------------------------------------------
;; inside a container

(defn exec-in!
  "Runs `cmd` (a program and its arguments) inside the running container with `docker exec`;
  returns its trimmed stdout, throws `:shoal.test/docker-failed` on a non-zero exit. The node
  image has no shell: this is for side containers such as the busybox image."
  [container & cmd]
  (apply docker! "exec" container cmd))

;; ---------------------------------------------------------------------------------------------
;; cleanup

(defn- labelled
  "Ids of containers (`kind` \"ps\") or networks (\"network\") matching the label filter."
  [kind filter-value]
  (lines (case kind
           "ps" (docker! "ps" "-a" "-q" "--filter" (str "label=" filter-value))
           "network" (docker! "network" "ls" "-q" "--filter" (str "label=" filter-value)))))

(defn- remove-all! [containers networks]
  (when (seq containers)
    (exec! {:check? false} (concat ["rm" "--force" "--volumes"] containers)))
  (doseq [n networks]
    (try (network-rm! n)
         (catch clojure.lang.ExceptionInfo e
           (when (inspect n) (throw e))))))

(defn cleanup!
  "Removes every container (with its anonymous volumes) and then every network labelled
  `shoal.test=<run-id>`. Idempotent. Returns `{:containers n :networks n}` removed."
  [run-id]
  (let [cs (labelled "ps" (str label "=" run-id))
        nets (labelled "network" (str label "=" run-id))]
    (remove-all! cs nets)
    {:containers (count cs) :networks (count nets)}))

(defn run-ids
  "Every run id found on container and network labels, with what is known of its owner:
  `{run-id {:pid n :started epoch-ms}}`."
  []
  (let [fmt (str/join "\t" (for [l [label (str label ".pid") (str label ".started")]]
                             (str "{{.Label \"" l "\"}}")))
        rows (concat (lines (docker! "ps" "-a" "--filter" (str "label=" label) "--format" fmt))
                     (lines (docker! "network" "ls" "--filter" (str "label=" label) "--format" fmt)))]
    (reduce (fn [acc row]
              (let [[run pid started] (str/split row #"\t")]
                (if (str/blank? run)
                  acc
                  (update acc run #(merge {:pid (some-> pid parse-long)
                                           :started (some-> started parse-long)}
                                          %)))))
            {} rows)))

(defn cleanup-stale!
  "Removes what runs of crashed test processes left behind: every run whose creating process no
  longer exists on this host, or that is older than `:max-age-ms` (default 6 hours, in case the
  pid was reused), except `:keep` (a set of run ids). Runs of live test processes, e.g. another
  engineer's, are left alone. Returns the run ids removed."
  ([] (cleanup-stale! {}))
  ([{:keys [max-age-ms keep] :or {max-age-ms (* 6 3600 1000) keep #{}}}]
   (let [now (System/currentTimeMillis)
         alive? (fn [pid] (and pid (.isPresent (java.lang.ProcessHandle/of pid))))
         stale (for [[run {:keys [pid started]}] (run-ids)
                     :when (not (contains? keep run))
                     :when (or (not (alive? pid))
                               (and started (> (- now started) max-age-ms)))]
                 run)]
     (doseq [run stale] (cleanup! run))
     (vec stale))))

(defn new-run-id
  "A short random run id (8 hex digits): container and network names stay readable."
  []
  (format "%08x" (bit-and (.nextLong (java.util.concurrent.ThreadLocalRandom/current)) 0xFFFFFFFF)))

;; ---------------------------------------------------------------------------------------------
;; a small image for tests

(defn- sha256-hex [^bytes bs]
  (let [d (.digest (MessageDigest/getInstance "SHA-256") bs)]
    (apply str (map #(format "%02x" (bit-and % 0xff)) d))))

(def busybox-applets
  "The commands the busybox test image has on its PATH (/bin)."
  ["sh" "httpd" "sleep" "echo" "cat" "wget" "nc" "ip" "ifconfig" "hostname" "ls" "true" "false"
   "nslookup" "ping" "env" "kill" "date" "mkdir" "printf" "udhcpc"])

(defn busybox-image!
  "Builds (once: skipped when an image with the same content exists) a `FROM scratch` image of
  the host's static busybox (Debian's busybox-static, /bin/busybox) with its applets on the PATH,
  for test workloads and harness tests: `httpd -f -p 8080`, `sleep`, `sh -c`, `nc`, `wget`.
  Returns the tag, `shoal-test-busybox:<content hash>`."
  ([] (busybox-image! "/bin/busybox"))
  ([busybox-path]
   (let [bin (io/file busybox-path)
         _ (when-not (.exists bin)
             (throw (ex-info (str busybox-path " is missing: apt-get install busybox-static")
                             {:type :shoal.test/missing-file :path busybox-path})))
         dockerfile (str "FROM scratch\nCOPY bin/ /bin/\nENV PATH=/bin\n"
                         "LABEL org.opencontainers.image.title=\"shoal test busybox\"\n"
                         "CMD [\"sleep\", \"3600\"]\n")
         bytes (java.nio.file.Files/readAllBytes (.toPath bin))
         hash (subs (sha256-hex (.getBytes (str (sha256-hex bytes) dockerfile busybox-applets))) 0 12)
         tag (str "shoal-test-busybox:" hash)]
     (when-not (inspect tag)
       (let [dir (.toFile (java.nio.file.Files/createTempDirectory
                           "shoal-busybox" (make-array java.nio.file.attribute.FileAttribute 0)))]
         (try
           (let [bindir (io/file dir "bin")]
             (.mkdirs bindir)
             (io/copy bin (io/file bindir "busybox"))
             (.setExecutable (io/file bindir "busybox") true false)
             (doseq [a busybox-applets]
               (java.nio.file.Files/createSymbolicLink (.toPath (io/file bindir a))
                                                       (.toPath (io/file "busybox"))
                                                       (make-array java.nio.file.attribute.FileAttribute 0)))
             (spit (io/file dir "Dockerfile") dockerfile)
             (docker! "build" "-q" "-t" tag (str dir)))
           (finally
             (doseq [^File f (reverse (file-seq dir))] (.delete f))))))
     tag)))
