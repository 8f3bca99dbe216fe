(ns shoal.test.cluster
  "The end-to-end harness: real node containers on a Docker network of their own, faults
  injected by the test, conditions awaited with deadlines, and every node's log on failure.

    (with-cluster [c {:nodes 3}]
      (wait-one-cluster c)
      (kill! c 2)
      (wait-members c 1 2))

  Vocabulary:
  - a *cluster* `c` is the value `with-cluster` binds: the run id, the image, the secrets whose
    operator certificate reads the nodes' status, and an atom of what exists (nodes, networks,
    side containers). Functions take it first.
  - a *node* is referred to by its index (1 for `shoal-<run>-n1`), its container name, or the
    node map `nodes` returns. Indexes are never reused in a run.
  - the *home network* `shoal-<run>` is created for the cluster (a free /24 of its own); every
    node joins it with a fixed address and the network alias `shoal`, so DNS discovery of the
    name `shoal` finds exactly the nodes attached to that network. `partition!` moves groups of
    nodes onto networks of their own (where the alias finds only their group); `heal!` brings
    them home with their home addresses.
  - a *status* is a node's `/v1/status` body (keyword keys), read with the operator certificate;
    nil when the node does not answer. The last status seen of each node is kept, so a killed
    node's id stays known (`node-id`).

  Everything is removed when `with-cluster` exits, failure or not; on a failure the last 200
  lines of every container's log are printed first. Waits never assert durations: they poll
  until a condition holds and fail with every node's last status when it does not in time."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :as t]
            [shoal.identity :as identity]
            [shoal.test.docker :as d]
            [shoal.test.node :as tn]
            [shoal.test.util :as u])
  (:import (java.io File)
           (java.security MessageDigest)
           (java.util.concurrent TimeUnit)))

(def api-port
  "The port of a node's mTLS API inside its container."
  7440)

(def default-timeout-ms
  "How long the `wait-*` helpers wait when not told."
  60000)

(def discovery-alias
  "The network alias every node has on the network it is attached to (what the image's
  default node.edn discovers by DNS)."
  "shoal")

(def log-tail
  "How many lines of each container's log a failure prints."
  200)

(def ^:private work-dir
  "Where the harness keeps its files (under target/, ignored by git)."
  "target/e2e")

;; ---------------------------------------------------------------------------------------------
;; secrets and images

(defn- sha256-hex [^String s]
  (let [d (.digest (MessageDigest/getInstance "SHA-256") (.getBytes s "UTF-8"))]
    (apply str (map #(format "%02x" (bit-and % 0xff)) d))))

(defn- tree-digest
  "One digest of every file under `paths` (name and content), in a stable order."
  [paths]
  (sha256-hex
   (str/join "\n" (for [p paths
                        ^File f (sort-by str (file-seq (io/file p)))
                        :when (.isFile f)]
                    (str f " " (sha256-hex (slurp f :encoding "ISO-8859-1")))))))

(defn- operator-cert-files
  "The first operator certificate in the secrets dir: `{:cert-file :key-file}`."
  [secrets]
  (let [crt (->> (.listFiles (io/file secrets))
                 (map #(.getName ^File %))
                 (filter #(re-matches #"operator-(.+)\.crt" %))
                 (remove #{"operator-ca.crt"})
                 sort first)]
    (when-not crt
      (throw (ex-info (str "no operator certificate (operator-<name>.crt) in " secrets
                           "; make one with bin/make-cas " secrets)
                      {:type :shoal.test/missing-file :dir secrets})))
    {:cert-file (str (io/file secrets crt))
     :key-file (str (io/file secrets (str/replace crt #"\.crt$" ".key")))}))

(defn- expires-soon? [cert-file]
  (let [not-after (.getNotAfter ^java.security.cert.X509Certificate (identity/read-cert cert-file))]
    (< (- (.getTime not-after) (System/currentTimeMillis)) (* 2 24 3600 1000))))

(defn default-secrets!
  "A secrets directory for tests, `target/e2e/secrets` (cluster CA, operator CA, operator
  certificate `tester`), created once and kept so images built from it stay cached; recreated
  when its operator certificate is about to expire. Returns its path."
  []
  (let [dir (io/file work-dir "secrets")]
    (when (or (not (.exists (io/file dir "operator-tester.crt")))
              (expires-soon? (str (io/file dir "operator-tester.crt"))))
      (u/delete-tree dir)
      (tn/make-secrets! (str dir)))
    (str dir)))

(defn- edn-file!
  "The path of a node.edn: `node-edn` itself when it is a path, else a file under `dir` holding
  the map (named by its content, so the same map is the same file)."
  [node-edn dir]
  (if (map? node-edn)
    (let [text (str ";; written by shoal.test.cluster\n" (pr-str node-edn) "\n")
          f (io/file dir (str "node-" (subs (sha256-hex text) 0 12) ".edn"))]
      (io/make-parents f)
      (when-not (.exists f) (spit f text))
      (.getAbsolutePath f))
    (.getAbsolutePath (io/file node-edn))))

(defn- run-build-image!
  "Runs bin/build-image with `args`; its output is printed only when it fails."
  [args]
  (let [pb (doto (ProcessBuilder. ^java.util.List (into ["bin/build-image"] args))
             (.redirectErrorStream true)
             (.redirectInput (java.lang.ProcessBuilder$Redirect/from (io/file "/dev/null"))))
        p (.start pb)
        out (future (slurp (.getInputStream p)))
        done? (.waitFor p 20 TimeUnit/MINUTES)]
    (when-not done? (.destroyForcibly p))
    (let [exit (when done? (.exitValue p))]
      (when-not (= 0 exit)
        (println @out)
        (throw (ex-info (str "bin/build-image " (str/join " " args) " failed (exit " exit ")")
                        {:type :shoal.test/build-failed :args args :exit exit :output @out})))
      @out)))

(defn build-image!
  "Builds the node image with bin/build-image and returns its tag. Options:
    :secrets      secrets dir (default `default-secrets!`)
    :node-edn     a node.edn path, or a map written to a file (default: image/node.edn)
    :cluster-repo a cluster repo dir (default: examples/)
    :tag          the tag (default `shoal-node:e2e-<content hash>`)
  Cached by content: when src/, the jars, image/, bin/build-image, the CA files, the node.edn
  and the cluster repo are what the image with this tag was built from, nothing is rebuilt.
  Prefer one image and a per-node `:node-edn` (mounted, see `add-node!`) over many images."
  ([] (build-image! {}))
  ([{:keys [secrets node-edn cluster-repo tag]}]
   (let [secrets (or secrets (default-secrets!))
         node-edn (edn-file! (or node-edn "image/node.edn") (io/file work-dir "node-edn"))
         cluster-repo (or cluster-repo "examples")
         key (sha256-hex (str/join " " [(tree-digest ["src" "resources" "jars.txt" "image" "bin/build-image"])
                                        (tree-digest (for [f ["cluster-ca.crt" "cluster-ca.key" "operator-ca.crt"]]
                                                       (io/file secrets f)))
                                        (tree-digest [node-edn])
                                        (tree-digest [cluster-repo])]))
         tag (or tag (str "shoal-node:e2e-" (subs key 0 12)))
         record (io/file work-dir "images" (str (str/replace tag #"[^A-Za-z0-9._-]" "_") ".edn"))
         cached (when (.exists record) (read-string (slurp record)))
         image-id (some-> (d/inspect tag) :Id)]
     (when-not (and image-id (= cached {:key key :image-id image-id}))
       (run-build-image! ["--secrets" secrets "--node-edn" node-edn
                          "--cluster-repo" cluster-repo "--tag" tag])
       (io/make-parents record)
       (spit record (pr-str {:key key :image-id (:Id (d/inspect tag))})))
     tag)))

;; ---------------------------------------------------------------------------------------------
;; the cluster value and its nodes

(defn- state [c] @(:state c))

(defn nodes
  "Every node started in this run (including killed and stopped ones), by index: maps of
  `:name :index :ip :network :home-ip :state` (`:running :paused :stopped :killed`) and the
  last `:node-id` seen."
  [c]
  (vec (sort-by :index (vals (:nodes (state c))))))

(defn node
  "The node map of `n`: an index, a container name or a node map. Throws when unknown."
  [c n]
  (let [nodes (:nodes (state c))
        found (cond (map? n) (get nodes (:name n))
                    (integer? n) (some #(when (= n (:index %)) %) (vals nodes))
                    :else (get nodes (str n)))]
    (or found
        (throw (ex-info (str "no node " (pr-str n) " in this cluster (nodes: "
                             (str/join ", " (map :index (vals nodes))) ")")
                        {:type :shoal.test/no-such-node :node n})))))

(defn node-name
  "The container name of node `n`."
  [c n]
  (:name (node c n)))

(defn- update-node! [c n f & args]
  (let [nm (node-name c n)]
    (apply swap! (:state c) update-in [:nodes nm] f args)
    nil))

(defn- alloc-ip!
  "The next unused address on the network (the harness never hands an address out twice)."
  [c net]
  (let [s (swap! (:state c) update-in [:networks net :next-host] inc)
        {:keys [subnet next-host]} (get-in s [:networks net])]
    (when (> next-host 254)
      (throw (ex-info (str "no address left on " net) {:type :shoal.test/no-address :network net})))
    (d/subnet-host subnet next-host)))

(defn home-network
  "The name of the cluster's home network."
  [c]
  (:home (state c)))

(defn- create-network! [c net-name opts]
  (let [n (d/network-create! net-name (merge opts {:run-id (:run-id c)}))]
    (swap! (:state c) assoc-in [:networks net-name] (assoc n :next-host 9))
    net-name))

(defn node-ip
  "Node `n`'s current address (as Docker reports it, on the network the harness put it on);
  nil while it has none (disconnected)."
  [c n]
  (let [{:keys [name network ip]} (node c n)]
    (when network
      (or (try (d/ip-of name network) (catch Exception _ nil)) ip))))

(defn- node-edn-mount
  "A `-v` for node `nm`'s own node.edn: a map (or `(fn [c node-name] map)`) is written to the
  run's directory and mounted over the image's /etc/shoal/node.edn."
  [c nm node-edn]
  (when node-edn
    (let [m (if (fn? node-edn) (node-edn c nm) node-edn)
          f (io/file (:dir c) (str nm ".edn"))]
      (if (map? m)
        (do (io/make-parents f) (spit f (str (pr-str m) "\n")))
        (io/copy (io/file m) (doto f io/make-parents)))
      (str (.getAbsolutePath f) ":/etc/shoal/node.edn:ro"))))

(defn- run-node!
  "docker run of a node whose entry is already in the state."
  [c {:keys [name network ip image env args cmd node-edn]}]
  (d/run! image {:name name :hostname name :run-id (:run-id c)
                 :network network :ip ip :aliases [discovery-alias]
                 :labels {"shoal.test.node" name}
                 :env (merge (when-let [l (System/getenv "SHOAL_LOG")] {"SHOAL_LOG" l}) env)
                 :volumes (concat ["/var/run/docker.sock:/var/run/docker.sock"]
                                  (some-> (node-edn-mount c name node-edn) vector))
                 :args args :cmd cmd}))

(defn- plan-node!
  "Reserves an index, a name and an address for a new node; returns its entry."
  [c {:keys [network ip] :as opts}]
  (let [s (swap! (:state c) update :next-index inc)
        index (:next-index s)
        net (or network (home-network c))
        ip (or ip (alloc-ip! c net))
        defaults (:node-defaults c)
        entry {:name (str "shoal-" (:run-id c) "-n" index) :index index
               :network net :ip ip :home-ip (when (= net (home-network c)) ip)
               :image (or (:image opts) (:image c))
               :env (merge (:env defaults) (:env opts))
               :args (concat (:args defaults) (:args opts))
               :cmd (or (:cmd opts) (:cmd defaults))
               :node-edn (or (:node-edn opts) (:node-edn defaults))
               :state :running}]
    (swap! (:state c) assoc-in [:nodes (:name entry)] entry)
    entry))

(defn add-node!
  "Starts one more node and returns its index. Options (defaults from the cluster's options):
    :image     the image (default the cluster's)
    :node-edn  a node.edn map, path or `(fn [c container-name] map)`, mounted over the image's
    :env       environment map; :args extra `docker run` arguments; :cmd a command
    :network   a network name (default the home network); :ip a fixed address on it"
  ([c] (add-node! c {}))
  ([c opts]
   (let [entry (plan-node! c opts)]
     (run-node! c entry)
     (:index entry))))

(defn run-container!
  "Starts a side container (not a node: an HTTP server, a DNS server...) on the home network (or
  `:network`), labelled with the run so it is removed with the cluster and its log dumped on
  failure. `opts` are those of `shoal.test.docker/run!` plus `:name` (short: the container is
  `shoal-<run>-<name>`; the short name and `:aliases` resolve on that network). Returns
  `{:name container-name :ip address}`."
  [c {:keys [name network ip aliases] :as opts}]
  (let [net (or network (home-network c))
        ip (or ip (alloc-ip! c net))
        cname (str "shoal-" (:run-id c) "-" name)]
    (d/run! (:image opts) (merge (dissoc opts :image)
                                 {:name cname :hostname name :run-id (:run-id c)
                                  :network net :ip ip :aliases (distinct (cons name aliases))}))
    (swap! (:state c) update :containers (fnil conj []) cname)
    {:name cname :ip ip}))

;; ---------------------------------------------------------------------------------------------
;; faults

(defn kill!
  "SIGKILL node `n`: it dies without leaving."
  [c n]
  (d/kill! (node-name c n))
  (update-node! c n assoc :state :killed))

(defn stop!
  "SIGTERM node `n` (a graceful leave), SIGKILL after `timeout-s` (default 10); returns once it
  has exited."
  ([c n] (stop! c n 10))
  ([c n timeout-s]
   (d/stop! (node-name c n) timeout-s)
   (update-node! c n assoc :state :stopped)))

(defn start!
  "Starts a stopped or killed node again (same container: same data volume, same address)."
  [c n]
  (d/start! (node-name c n))
  (update-node! c n assoc :state :running))

(defn pause!
  "Freezes node `n`: it keeps its address but answers nothing (a hung machine)."
  [c n]
  (d/pause! (node-name c n))
  (update-node! c n assoc :state :paused))

(defn unpause!
  "Thaws a paused node."
  [c n]
  (d/unpause! (node-name c n))
  (update-node! c n assoc :state :running))

(defn disconnect!
  "Takes node `n` off its network: it keeps running, with no address and no peers."
  [c n]
  (let [{:keys [name network]} (node c n)]
    (when network
      (d/disconnect! name network))
    (update-node! c n assoc :network nil :ip nil)))

(defn- resolve-ip
  "The address to attach a node with: `:new` a fresh one, a string as given, nil its home
  address on the home network (else a fresh one)."
  [c {:keys [home-ip]} net ip]
  (cond (= :new ip) (alloc-ip! c net)
        (string? ip) ip
        (and (= net (home-network c)) home-ip) home-ip
        :else (alloc-ip! c net)))

(defn reconnect!
  "Attaches node `n` to a network (`:network`, default the home network; disconnecting it from the
  one it is on first). `:ip`: nil for its home address, `:new` for an address it never had,
  or an address. The `shoal` alias comes back with it. Returns the address."
  ([c n] (reconnect! c n {}))
  ([c n {:keys [network ip]}]
   (let [{:keys [name] :as nd} (node c n)
         net (or network (home-network c))
         addr (resolve-ip c nd net ip)]
     (when (:network nd)
       (d/disconnect! name (:network nd)))
     (d/connect! name net {:ip addr :aliases [discovery-alias]})
     (update-node! c n merge {:network net :ip addr}
                   (when (= net (home-network c)) {:home-ip addr}))
     addr)))

(defn restart!
  "Restarts node `n` (SIGTERM, SIGKILL after 10 s). Options: `:kill? true` to SIGKILL instead
  of stopping gracefully; `:ip` (`:new` or an address) to come back with another address, as a
  machine that gets a new IP from DHCP. Returns its address."
  ([c n] (restart! c n {}))
  ([c n {:keys [kill? ip]}]
   (if kill? (kill! c n) (stop! c n))
   (let [addr (if ip
                (reconnect! c n {:network (or (:network (node c n)) (home-network c)) :ip ip})
                (node-ip c n))]
     (start! c n)
     addr)))

(defn partition!
  "Splits the cluster: `groups` is a seq of seqs of nodes. The first group stays on (or returns
  to) the home network; each other group moves to a network of its own, `shoal-<run>-p<i>`,
  where it gets new addresses and the `shoal` alias finds only its own group. Docker isolates
  networks from each other, while the test can still read every node's status. Nodes named in
  no group stay where they are. Returns `{network-name [indexes]}`."
  [c groups]
  (into {}
        (map-indexed
         (fn [i group]
           (let [net (if (zero? i)
                       (home-network c)
                       (let [nm (str "shoal-" (:run-id c) "-p" (inc i))]
                         (if (get-in (state c) [:networks nm]) nm (create-network! c nm {}))))]
             (doseq [n group
                     :when (not= net (:network (node c n)))]
               (reconnect! c n {:network net}))
             [net (mapv #(:index (node c %)) group)]))
         groups)))

(defn heal!
  "Brings every node that is not on the home network (partitioned or disconnected) back to it,
  with its home address, and removes the partition networks."
  [c]
  (doseq [{:keys [index network]} (nodes c)
          :when (not= network (home-network c))]
    (reconnect! c index {}))
  (doseq [net (keys (:networks (state c)))
          :when (not= net (home-network c))]
    (d/network-rm! net)
    (swap! (:state c) update :networks dissoc net))
  nil)

;; ---------------------------------------------------------------------------------------------
;; status

(defn- operator-context [secrets]
  (tn/client-context (assoc (operator-cert-files secrets)
                            :ca-file (str (io/file secrets "cluster-ca.crt")))))

(defn status
  "Node `n`'s /v1/status as the operator sees it (keyword keys), or nil when it does not answer
  (stopped, paused, disconnected, still starting, or refusing). Remembers the last one seen."
  [c n]
  (let [nd (node c n)
        ip (when (and (:network nd) (#{:running} (:state nd))) (node-ip c n))
        s (when ip
            (try (let [{:keys [status body]} (tn/get-json @(:ssl-context c)
                                                          (str "https://" ip ":" api-port "/v1/status"))]
                   (when (= 200 status) body))
                 (catch Exception _ nil)))]
    (when s
      (update-node! c n merge {:last-status s} (when (:node-id s) {:node-id (:node-id s)})))
    s))

(defn statuses
  "`{container-name status}` of nodes `ns` (default: every node), read in parallel."
  ([c] (statuses c (map :index (nodes c))))
  ([c ns]
   (let [fs (doall (for [n ns] [(node-name c n) (future (status c n))]))]
     (into (sorted-map) (for [[nm f] fs] [nm @f])))))

(defn node-id
  "Node `n`'s shoal node id, from the last status it answered (so it stays known after it dies);
  nil when it never answered."
  [c n]
  (or (:node-id (node c n)) (:node-id (status c n))))

(defn with-role
  "Indexes of the running nodes whose status now lists `role` (e.g. \"hub\") among their roles."
  [c role]
  (let [sts (statuses c (map :index (filter (comp #{:running} :state) (nodes c))))]
    (vec (for [{:keys [index name]} (nodes c)
               :when (some #{role} (:roles (get sts name)))]
           index))))

(defn member-ids
  "The set of member ids a status lists."
  [s]
  (set (map :id (:members s))))

(defn- short-id [id] (when id (subs (str id) 0 (min 8 (count (str id))))))

(defn- summary [s]
  (str "node " (short-id (:node-id s)) " cluster " (short-id (:cluster-id s))
       " roles " (pr-str (:roles s)) " members " (count (:members s))
       " " (pr-str (sort (map short-id (member-ids s))))
       " etcd " (if (get-in s [:etcd :healthy]) "healthy" "NOT healthy")))

(defn describe
  "One line per node: index, name, address, container state, and its status in `sts`
  (`{container-name status}`), else the last one it answered. With `sts` nil, the last answers."
  [c sts]
  (str/join "\n"
            (for [{:keys [name index state ip last-status]} (nodes c)
                  :let [s (get sts name)]]
              (str "  n" index " " name " " (or ip "no-address") " " (clojure.core/name state) ": "
                   (cond s (summary s)
                         (and (nil? sts) last-status) (str "last answer: " (summary last-status))
                         last-status (str "no answer (last answer: " (summary last-status) ")")
                         :else "no answer")))))

(defn wait-until
  "Polls until `(pred statuses)` is truthy and returns that value; `statuses` is
  `{container-name status-or-nil}` of the nodes in `:nodes` (default all running nodes), read in
  parallel every 250 ms. A pred that throws counts as false. After `timeout-ms` throws
  `:shoal.test/timeout` with `what`, the last statuses of every node (one line each in the
  message) and the pred's last exception."
  ([c what timeout-ms pred] (wait-until c what timeout-ms pred {}))
  ([c what timeout-ms pred opts]
   (let [deadline (+ (System/currentTimeMillis) timeout-ms)
         polled #(or (:nodes opts) (map :index (filter (comp #{:running} :state) (nodes c))))]
     (loop []
       (let [sts (statuses c (polled))
             [v err] (try [(pred sts) nil] (catch Exception e [nil e]))]
         (cond
           v v
           (> (System/currentTimeMillis) deadline)
           (let [all (statuses c)]
             (throw (ex-info (str "timed out after " timeout-ms " ms waiting for " what
                                  (when err (str " (last check threw: " (ex-message err) ")"))
                                  "; nodes:\n" (describe c all))
                             {:type :shoal.test/timeout :what what :timeout-ms timeout-ms
                              :statuses all :error err})))
           :else (do (Thread/sleep 250) (recur))))))))

(defn wait-status
  "Waits until node `n` answers with a status satisfying `pred`; returns that status."
  ([c n what pred] (wait-status c n what pred default-timeout-ms))
  ([c n what pred timeout-ms]
   (let [nm (node-name c n)]
     (wait-until c (str nm " " what) timeout-ms
                 (fn [sts] (let [s (get sts nm)] (when (and s (pred s)) s)))
                 {:nodes [n]}))))

(defn wait-healthy
  "Waits until node `n` is in a cluster whose etcd it reports healthy; returns its status."
  ([c n] (wait-healthy c n default-timeout-ms))
  ([c n timeout-ms]
   (wait-status c n "in a cluster with healthy etcd"
                #(and (:cluster-id %) (get-in % [:etcd :healthy])) timeout-ms)))

(defn wait-members
  "Waits until node `n` lists exactly `k` members; returns its status."
  ([c n k] (wait-members c n k default-timeout-ms))
  ([c n k timeout-ms]
   (wait-status c n (str "listing " k " members") #(= k (count (:members %))) timeout-ms)))

(defn wait-one-cluster
  "Waits until every node in `ns` (default: all running nodes) answers with the same cluster id
  and lists all of them as members (by node id); returns the cluster id."
  ([c] (wait-one-cluster c (map :index (filter (comp #{:running} :state) (nodes c)))))
  ([c ns] (wait-one-cluster c ns default-timeout-ms))
  ([c ns timeout-ms]
   (let [names (mapv #(node-name c %) ns)]
     (wait-until c (str "one cluster of " (str/join ", " names)) timeout-ms
                 (fn [sts]
                   (let [ss (map sts names)]
                     (when (every? :cluster-id ss)
                       (let [ids (set (map :node-id ss))
                             cids (set (map :cluster-id ss))]
                         (when (and (= 1 (count cids))
                                    (every? #(every? (member-ids %) ids) ss))
                           (first cids))))))
                 {:nodes ns}))))

(defn wait-not-member
  "Waits until every node in `observers` answers and none lists node `gone` (by its last known
  id) as a member; returns the observers' statuses."
  ([c observers gone] (wait-not-member c observers gone default-timeout-ms))
  ([c observers gone timeout-ms]
   (let [id (or (node-id c gone)
                (throw (ex-info (str "node " gone " never answered: its id is unknown")
                                {:type :shoal.test/no-node-id :node gone})))
         names (mapv #(node-name c %) observers)]
     (wait-until c (str (node-name c gone) " gone from " (str/join ", " names)) timeout-ms
                 (fn [sts] (let [ss (map sts names)]
                             (when (every? #(and % (not ((member-ids %) id))) ss) sts)))
                 {:nodes observers}))))

;; ---------------------------------------------------------------------------------------------
;; the cluster's life

(defn dump-logs
  "Prints the last `log-tail` lines of every container of the run (nodes and side containers),
  each under a header with its address, state and last status."
  [c]
  (let [side (:containers (state c))]
    (doseq [{:keys [name index ip state]} (nodes c)]
      (println (str "\n===== n" index " " name " (" (or ip "no address") ", " (clojure.core/name state)
                    ", docker: " (some-> (d/state name) clojure.core/name) ") last " log-tail " log lines ====="))
      (println (try (d/logs name {:tail log-tail}) (catch Exception e (str "(no log: " (ex-message e) ")")))))
    (doseq [nm side]
      (println (str "\n===== " nm " (side container) last " log-tail " log lines ====="))
      (println (try (d/logs nm {:tail log-tail}) (catch Exception e (str "(no log: " (ex-message e) ")")))))
    (println (str "\n===== last statuses =====\n" (describe c nil)))
    (flush)))

(defn- resolve-image [image]
  (cond (string? image) [image nil]
        (map? image) [(build-image! image) (:secrets image)]
        (nil? image) [(build-image! {}) nil]))

(defn new-cluster
  "The cluster value for `opts` (see `with-cluster`), before anything is created in Docker."
  [{:keys [image secrets] :as opts}]
  (let [[tag built-secrets] (resolve-image image)
        secrets (or secrets built-secrets (default-secrets!))
        run-id (d/new-run-id)]
    {:run-id run-id
     :image tag
     :secrets secrets
     :ssl-context (delay (operator-context secrets))
     :dir (.getAbsolutePath (io/file work-dir "runs" run-id))
     :node-defaults (select-keys opts [:env :args :cmd :node-edn])
     :opts opts
     :state (atom {:home (str "shoal-" run-id) :networks {} :nodes {} :next-index 0})}))

(defn start-cluster!
  "Creates the home network (`:network {:subnet ...}` or a free /24) and starts `:nodes` nodes
  at once (in `:partition` groups of indexes, when given, each group on a network of its own
  from the start). Returns `c`."
  [c]
  (let [{:keys [nodes network partition]} (:opts c)]
    (create-network! c (home-network c) (select-keys network [:subnet]))
    (let [entries (doall (for [_ (range (or nodes 0))] (plan-node! c {})))]
      (when (seq partition)
        (doseq [[i group] (map-indexed vector (rest partition))
                :let [net (create-network! c (str "shoal-" (:run-id c) "-p" (+ 2 i)) {})]
                n group]
          (let [ip (alloc-ip! c net)]
            (update-node! c n assoc :network net :ip ip))))
      ;; all at once; every docker run is waited for before a failure is rethrown, so that
      ;; the teardown sees every container that was created
      (let [results (->> (map #(node c (:index %)) entries)
                         (mapv #(future (try (run-node! c %) nil (catch Throwable t t))))
                         (mapv deref))]
        (when-let [t (some identity results)] (throw t))))
    c))

(defn stop-cluster!
  "Removes every container and network of the run, and its files. Idempotent."
  [c]
  (d/cleanup! (:run-id c))
  (u/delete-tree (:dir c)))

(defn call-with-cluster
  "Calls `(f c)` with a started cluster (see `with-cluster`) and always tears it down; prints
  every container's log first when `f` throws or a clojure.test assertion inside it fails."
  [opts f]
  (d/ensure-engine!)
  (d/cleanup-stale!)
  (let [c (new-cluster opts)
        failed? (atom false)
        report t/report
        hook (Thread. ^Runnable #(try (d/cleanup! (:run-id c)) (catch Throwable _)))]
    (.addShutdownHook (Runtime/getRuntime) hook)
    (try
      (start-cluster! c)
      (binding [t/report (fn [m]
                           (when (#{:fail :error} (:type m)) (reset! failed? true))
                           (report m))]
        (f c))
      (catch Throwable e
        (reset! failed? true)
        (throw e))
      (finally
        (try
          (when @failed? (dump-logs c))
          (finally
            (stop-cluster! c)
            (try (.removeShutdownHook (Runtime/getRuntime) hook) (catch IllegalStateException _))))))))

(defmacro with-cluster
  "Runs `body` with `c` bound to a fresh cluster and removes every container and network it
  made afterwards, failure or not; on a failure prints every container's last log lines.
  Options:
    :nodes      how many nodes to start at once (default 0)
    :image      a tag, or `build-image!` options (default: `(build-image! {})`)
    :secrets    the secrets the image was built from (default: those of a `build-image!` map,
                else `default-secrets!`)
    :node-edn   a node.edn (map, path, or `(fn [c container-name] map)`) mounted into every node
    :env :args :cmd   for every node (see `add-node!`)
    :network    `{:subnet \"172.30.9.0/24\"}` for the home network (default: a free /24)
    :partition  `[[1 2 3] [4 5]]`: start the nodes already partitioned (see `partition!`)"
  [[c opts] & body]
  `(call-with-cluster ~opts (fn [~c] ~@body)))
