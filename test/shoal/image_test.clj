(ns ^:e2e shoal.image-test
  "The node image, built by bin/build-image with fresh CAs in a temp dir and checked with the real
  Docker engine: size, the JRE, etcd and git in it (git's local transport included), labels and
  entrypoint, the CA files and never an operator key, refusals, layer reuse when only node.edn
  changes, and a node that starts and leaves with exit 0 on SIGTERM.
  Every image, container, network and temp dir the tests create is removed afterwards."
  (:require [clojure.data.json :as json]
            [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing use-fixtures]]
            [shoal.test.util :as u])
  (:import (java.nio.file Files)
           (java.util.concurrent TimeUnit)))

;; ---------------------------------------------------------------------------------------------
;; processes

(defn- run
  "Runs a command (strings) with ProcessBuilder; returns {:exit n :out \"stdout+stderr\"}.
  `opts`: :timeout-s (default 300), :env map added to the environment."
  ([args] (run args {}))
  ([args {:keys [timeout-s env] :or {timeout-s 300}}]
   (let [pb (doto (ProcessBuilder. ^java.util.List (mapv str args)) (.redirectErrorStream true))
         _ (doseq [[k v] env] (.put (.environment pb) k v))
         p (.start pb)
         out (future (slurp (.getInputStream p)))]
     (if (.waitFor p timeout-s TimeUnit/SECONDS)
       {:exit (.exitValue p) :out @out}
       (do (.destroyForcibly p)
           {:exit -1 :out (str (deref out 1000 "") "\n[timed out after " timeout-s " s: " (str/join " " args) "]")})))))

(defn- docker [& args] (run (cons "docker" args)))

(defn- docker! [& args]
  (let [{:keys [exit out] :as r} (apply docker args)]
    (when-not (zero? exit)
      (throw (ex-info (str "docker " (str/join " " args) " failed (" exit "): " out) r)))
    (str/trim out)))

(defn- rand-id [] (format "%08x" (rand-int Integer/MAX_VALUE)))

;; ---------------------------------------------------------------------------------------------
;; what a test run creates, all removed by the fixture (and by each test's own finally)

(def ^:private created (atom {:images #{} :containers #{} :networks #{} :dirs #{}}))

(defn- track! [kind x] (swap! created update kind conj x) x)

(defn- remove-container! [c]
  (docker "rm" "-f" "-v" c)
  (swap! created update :containers disj c))

(defn- remove-all! []
  (let [{:keys [images containers networks dirs]} @created]
    (doseq [c containers] (docker "rm" "-f" "-v" c))
    (doseq [n networks] (docker "network" "rm" n))
    (doseq [i images] (docker "rmi" "-f" i))
    (doseq [d dirs] (u/delete-tree d))
    (reset! created {:images #{} :containers #{} :networks #{} :dirs #{}})))

;; ---------------------------------------------------------------------------------------------
;; secrets and builds

(defn- make-secrets!
  "Two CAs and an operator certificate in `dir`, as an operator has them: bin/make-cas when it is
  there, else openssl. The directory holds operator-ca.key and operator-*.key, as it does for real."
  [dir]
  (if (.canExecute (io/file "bin/make-cas"))
    (let [{:keys [exit out]} (run ["bin/make-cas" dir "tester"])]
      (assert (zero? exit) (str "bin/make-cas failed: " out)))
    (doseq [[base cn] [["cluster-ca" "test cluster CA"] ["operator-ca" "test operator CA"]
                       ["operator-tester" "tester"]]]
      (let [{:keys [exit out]} (run ["openssl" "req" "-x509" "-newkey" "ec" "-pkeyopt" "ec_paramgen_curve:P-256"
                                     "-nodes" "-days" "30" "-subj" (str "/CN=" cn)
                                     "-keyout" (str dir "/" base ".key") "-out" (str dir "/" base ".crt")])]
        (assert (zero? exit) (str "openssl failed: " out)))))
  dir)

(defn- build!
  "Runs bin/build-image with `args`; returns {:exit :out}. A tag given in args is tracked for removal."
  [& args]
  (let [tag (second (drop-while #(not= "--tag" %) args))]
    (when tag
      (track! :images tag)
      (track! :dirs (str "target/image/" (str/replace tag #"[^A-Za-z0-9._\n-]" "_"))))
    (run (cons "bin/build-image" args) {:timeout-s 600})))

(def ^:dynamic *ctx* "{:secrets dir :tag image :build {:exit :out}}" nil)

(use-fixtures :once
  (fn [f]
    (try
      (let [dir (track! :dirs (str (u/temp-dir "shoal-image-test")))
            secrets (make-secrets! (str dir "/secrets"))
            tag (str "shoal-node:test-" (rand-id))
            result (build! "--secrets" secrets "--tag" tag)]
        (binding [*ctx* {:dir dir :secrets secrets :tag tag :build result}]
          (f)))
      (finally (remove-all!)))))

(defn- built? []
  (let [{:keys [exit out]} (:build *ctx*)]
    (is (zero? exit) (str "bin/build-image failed:\n" out))
    (zero? exit)))

(defn- image [] (:tag *ctx*))

(defn- inspect [img] (first (json/read-str (docker! "image" "inspect" img) :key-fn keyword)))

(def ^:private mib (* 1024 1024))

;; ---------------------------------------------------------------------------------------------

(deftest build-reports-and-fits
  (when (built?)
    (let [out (:out (:build *ctx*))
          size (:Size (inspect (image)))]
      (testing "progress lines, then the image id, its size and the build time"
        (is (re-find #"build-image: \[ *[0-9.]+s\] docker build" out))
        (is (re-find #"build-image: image sha256:[0-9a-f]{64}  size [0-9.]+ MiB  build [0-9.]+ s" out)))
      (testing "under 120 MiB"
        (is (< size (* 120 mib)) (str "image is " (quot size mib) " MiB"))))))

(deftest image-metadata
  (when (built?)
    (let [{:keys [Config Os]} (inspect (image))
          entry (:Entrypoint Config)
          cp (second (drop-while #(not= "-cp" %) entry))]
      (is (= "linux" Os))
      (testing "JSON-form entrypoint: the image's java runs shoal.node on the baked-in node.edn"
        (is (= ["/sbin/tini" "--" "/opt/java/bin/java" "-XX:+UseSerialGC" "-XX:TieredStopAtLevel=1" "-Xss512k" "-cp"]
               (take 7 entry))
            "tini is PID 1: it forwards SIGTERM and reaps orphaned processes")
        (is (= ["clojure.main" "-m" "shoal.node" "/etc/shoal/node.edn"] (take-last 4 entry)))
        (is (str/starts-with? cp "/opt/shoal/classes:"))
        (is (str/includes? cp "/opt/shoal/lib/clojure-1.11.jar"))
        (is (not (str/includes? cp "test.check")) "test.check is for tests only"))
      (testing "volume, ports, labels"
        (is (= #{:/var/lib/shoal} (set (keys (:Volumes Config)))))
        (is (= #{:7440/tcp :2379/tcp :2380/tcp} (set (keys (:ExposedPorts Config)))))
        (let [labels (:Labels Config)
              revision (str (:org.opencontainers.image.revision labels))
              ;; the version is `git describe` of the revision built (+ -dirty for a changed tree)
              describe (str/trim (:out (run ["git" "describe" "--tags" "--always" revision])))]
          (is (= "shoal-node" (:org.opencontainers.image.title labels)))
          (is (re-matches #"[0-9a-f]{40}" revision))
          (is (= describe (str/replace (str (:org.opencontainers.image.version labels)) #"-dirty$" ""))))))))

(deftest the-jre-etcd-and-git-run
  (when (built?)
    (testing "java -version, from the jlink'd JRE"
      (let [{:keys [exit out]} (docker "run" "--rm" "--entrypoint" "/opt/java/bin/java" (image) "-version")]
        (is (zero? exit) out)
        (is (re-find #"version \"17" out) out)))
    (testing "the JRE has the modules the node needs, and no more"
      (let [{:keys [exit out]} (docker "run" "--rm" "--entrypoint" "/opt/java/bin/java" (image) "--list-modules")
            mods (set (map #(first (str/split % #"@")) (str/split-lines (str/trim out))))]
        (is (zero? exit) out)
        (is (every? mods ["java.base" "java.net.http" "java.naming" "jdk.naming.dns" "jdk.crypto.ec"
                          "java.sql" "jdk.unsupported" "jdk.httpserver" "jdk.management"]))
        (is (not (mods "java.desktop")))))
    (testing "etcd --version"
      (let [{:keys [exit out]} (docker "run" "--rm" "--entrypoint" "/usr/bin/etcd" (image) "--version")]
        (is (zero? exit) out)
        (is (str/includes? out "etcd Version: 3."))))
    (testing "git --version"
      (let [{:keys [exit out]} (docker "run" "--rm" "--entrypoint" "/usr/bin/git" (image) "--version")]
        (is (zero? exit) out)
        (is (str/starts-with? out "git version 2."))))))

(deftest git-local-transport-works-without-a-shell
  (when (built?)
    (let [c (track! :containers (str "shoal-image-git-" (rand-id)))
          git (fn [& args] (apply docker "exec" c "/usr/bin/git" args))
          ok (fn [{:keys [exit out]}] (is (zero? exit) out) out)]
      (try
        ;; etcd keeps the container running (and shows it starts) while git runs beside it
        (docker! "run" "-d" "--name" c "--entrypoint" "/usr/bin/etcd" (image) "--data-dir" "/tmp/etcd")
        (ok (git "init" "-q" "-b" "main" "/tmp/src"))
        (ok (git "-C" "/tmp/src" "-c" "user.name=t" "-c" "user.email=t@t" "commit" "-q" "--allow-empty" "-m" "one"))
        (testing "clone of a path and of a file:// URL"
          (ok (git "clone" "-q" "/tmp/src" "/tmp/by-path"))
          (ok (git "clone" "-q" "file:///tmp/src" "/tmp/by-url"))
          (ok (git "init" "-q" "--bare" "/tmp/bare.git")))
        (testing "push and fetch"
          (ok (git "-C" "/tmp/by-path" "-c" "user.name=t" "-c" "user.email=t@t" "commit" "-q" "--allow-empty" "-m" "two"))
          (ok (git "-C" "/tmp/by-path" "push" "-q" "file:///tmp/bare.git" "HEAD:refs/heads/main"))
          (ok (git "-C" "/tmp/by-url" "fetch" "-q" "/tmp/bare.git" "main"))
          (is (= (str/trim (ok (git "-C" "/tmp/by-path" "rev-parse" "HEAD")))
                 (str/trim (ok (git "-C" "/tmp/by-url" "rev-parse" "FETCH_HEAD"))))))
        (testing "/bin/sh is not a shell"
          (let [{:keys [exit out]} (docker "exec" c "/bin/sh" "-c" "echo hi | cat")]
            (is (= 127 exit) out)
            (is (str/includes? out "no shell"))))
        (finally (remove-container! c))))))

(defn- export-listing
  "Every path in the image's file system (docker create + docker export), and the export's bytes."
  [img dir]
  (let [c (track! :containers (str "shoal-image-export-" (rand-id)))
        tar (str dir "/export-" c ".tar")]
    (try
      (docker! "create" "--name" c img)
      (docker! "export" "-o" tar c)
      (let [{:keys [exit out]} (run ["tar" "-tf" tar])]
        (assert (zero? exit) out)
        {:paths (set (map #(str "/" (str/replace % #"^\./|/$" "")) (str/split-lines out)))
         :bytes (Files/readAllBytes (.toPath (io/file tar)))})
      (finally
        (remove-container! c)
        (io/delete-file tar true)))))

(defn- pem-lines
  "The base64 lines of a PEM file (each long and random enough to be found only where the key is)."
  [file]
  (->> (str/split-lines (slurp file)) (remove #(str/starts-with? % "-----")) (filter #(>= (count %) 24))))

(defn- contains-bytes? [^bytes hay ^String needle]
  (str/includes? (String. hay java.nio.charset.StandardCharsets/ISO_8859_1) needle))

(deftest the-operator-key-is-never-in-the-image
  (when (built?)
    (let [{:keys [secrets dir]} *ctx*
          {:keys [paths bytes]} (export-listing (image) dir)]
      (testing "the secrets dir does hold operator keys (as bin/make-cas leaves it)"
        (is (.exists (io/file secrets "operator-ca.key")))
        (is (seq (filter #(re-matches #"operator-.*\.key" (.getName ^java.io.File %))
                         (.listFiles (io/file secrets))))))
      (testing "the image has the three CA files and nothing else from it"
        (is (= #{"cluster-ca.crt" "cluster-ca.key" "operator-ca.crt"}
               (set (keep #(second (re-matches #"/etc/shoal/secrets/(.+)" %)) paths))))
        (is (contains? paths "/etc/shoal/node.edn"))
        (is (contains? paths "/etc/shoal/cluster/cluster.edn")))
      (testing "no operator key, by name anywhere or by content"
        (is (empty? (filter #(re-find #"/operator[^/]*\.key$" %) paths)))
        (doseq [f (.listFiles (io/file secrets))
                :when (re-matches #"operator.*\.key" (.getName ^java.io.File f))]
          (is (not-any? #(contains-bytes? bytes %) (pem-lines f)) (str (.getName ^java.io.File f) " is in the image")))
        (is (every? #(contains-bytes? bytes %) (pem-lines (io/file secrets "cluster-ca.key")))
            "(the content check works: the cluster CA key is found)"))
      (testing "the image's basics, and shoal AOT-compiled"
        (is (every? paths ["/opt/java/bin/java" "/usr/bin/etcd" "/usr/bin/git" "/bin/sh" "/tmp"
                           "/etc/passwd" "/etc/group" "/lib64/ld-linux-x86-64.so.2"
                           "/opt/shoal/classes/shoal/node__init.class"]))
        (is (not-any? #(str/ends-with? % ".clj") (filter #(str/starts-with? % "/opt/shoal/classes/shoal/") paths))
            "classes only, no sources")))))

(deftest refusals
  (let [{:keys [dir secrets]} *ctx*
        copy-secrets (fn [to names]
                       (.mkdirs (io/file to))
                       (doseq [n names] (io/copy (io/file secrets n) (io/file to n)))
                       to)]
    (testing "a secrets dir without cluster-ca.key: a clear error that says to run bin/make-cas"
      (let [s (copy-secrets (str dir "/no-key") ["cluster-ca.crt" "operator-ca.crt" "operator-ca.key"])
            {:keys [exit out]} (build! "--secrets" s "--tag" (str "shoal-node:test-refused-" (rand-id)))]
        (is (not (zero? exit)))
        (is (str/includes? out (str s "/cluster-ca.key is missing")) out)
        (is (str/includes? out (str "bin/make-cas " s)) out)))
    (testing "an operator key in the cluster repo is refused, not copied"
      (let [repo (str dir "/repo")
            _ (.mkdirs (io/file repo))
            _ (io/copy (io/file "examples/cluster.edn") (io/file repo "cluster.edn"))
            _ (io/copy (io/file secrets "operator-ca.key") (io/file repo "operator-ca.key"))
            {:keys [exit out]} (build! "--secrets" secrets "--cluster-repo" repo
                                       "--tag" (str "shoal-node:test-refused-" (rand-id)))]
        (is (not (zero? exit)))
        (is (re-find #"refusing to build: an operator key would be copied" out) out)))
    (testing "a cluster-ca.key that is really the operator CA's key is refused"
      (let [s (copy-secrets (str dir "/swapped") ["cluster-ca.crt" "operator-ca.crt"])
            _ (io/copy (io/file secrets "operator-ca.key") (io/file s "cluster-ca.key"))
            {:keys [exit out]} (build! "--secrets" s "--tag" (str "shoal-node:test-refused-" (rand-id)))]
        (is (not (zero? exit)))
        (is (re-find #"refusing to build: .*cluster-ca.key is the operator CA.s key" out) out)))))

(deftest a-new-node-edn-changes-only-the-last-layer
  (when (built?)
    (let [{:keys [dir secrets]} *ctx*
          edn (str dir "/other-node.edn")
          _ (spit edn (str (slurp "image/node.edn") "\n;; a per-test node.edn\n"))
          tag (str "shoal-node:test-" (rand-id))
          ;; the two builds back to back (the first from cache), so that both see the same src/
          first-build (build! "--secrets" secrets "--tag" (image))
          {:keys [exit out]} (build! "--secrets" secrets "--node-edn" edn "--tag" tag)]
      (is (zero? (:exit first-build)) (:out first-build))
      (is (zero? exit) out)
      (when (zero? exit)
        (let [layers #(get-in (inspect %) [:RootFS :Layers])
              a (layers (image)) b (layers tag)]
          (is (= (count a) (count b)))
          (is (= (butlast a) (butlast b)) "every layer but node.edn's is shared")
          (is (not= (last a) (last b))))
        (let [c (track! :containers (str "shoal-image-edn-" (rand-id)))]
          (try
            (docker! "create" "--name" c tag)
            (docker! "cp" (str c ":/etc/shoal/node.edn") (str dir "/copied.edn"))
            (is (= (slurp edn) (slurp (str dir "/copied.edn"))))
            (finally (remove-container! c))))))))

(deftest a-node-starts-and-leaves-on-sigterm
  (when (built?)
    (let [net (track! :networks (str "shoal-image-net-" (rand-id)))
          c (track! :containers (str "shoal-image-node-" (rand-id)))
          logs #(:out (docker "logs" c))]
      (try
        (docker! "network" "create" net)
        (docker! "run" "-d" "--name" c "--network" net "--network-alias" "shoal" (image))
        (let [ready (u/poll 90000 250 #(str/includes? (logs) "node ready"))]
          (is ready (str "no `node ready` within 90 s; log:\n" (logs)))
          (when ready
            (docker! "stop" "-t" "30" c)
            (is (= "0" (docker! "inspect" "-f" "{{.State.ExitCode}}" c))
                (str "exit code after SIGTERM; log:\n" (logs)))))
        (finally
          (remove-container! c)
          (docker "network" "rm" net)
          (swap! created update :networks disj net))))))
