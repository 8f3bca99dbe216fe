(ns shoal.discovery.git
  "The `:git` discovery source:
  `{:type :git :repo \"/srv/peers.git\" :path \"peers.edn\" :ref \"main\" :publish false}`.
  The file at `:path` on branch `:ref` of `:repo` (anything `git fetch` takes: a path, file://,
  https://, ssh) is an address file as read by `shoal.discovery/read-addresses`.

  Reading fetches only that branch's last commit (`git fetch --depth 1`) into a fresh temp
  directory, which is deleted afterwards; nothing is cached between calls, so every read sees the
  branch as it is now.

  Publication (`shoal.discovery/publish!`, for sources with `:publish true`) adds this node's
  address to the file if absent, as a sorted vector of \"host:port\" strings one per line, commits
  as `shoal <shoal@localhost>` and pushes. Nodes publish concurrently, so a push refused because
  the branch moved is retried from a fresh fetch after a random pause, up to 12 rounds within the
  timeout. A branch or file that does not
  exist yet is created; a file that is not an address file is never overwritten.

  git runs as a child process (argument vectors, no shell) that is killed, with its children,
  when the timeout runs out. It never prompts: `GIT_TERMINAL_PROMPT=0` and ssh in batch mode."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.tools.logging :as log]
            [shoal.discovery :as d])
  (:import (java.io File)
           (java.nio.charset StandardCharsets)
           (java.nio.file FileVisitOption Files Path)
           (java.nio.file.attribute FileAttribute)
           (java.util.concurrent TimeUnit)))

(def ^:private attempts
  "Publication rounds (fetch, commit, push) before giving up on a branch that keeps moving. Each
  round loses only to a node that won it, so n nodes publishing at once need up to n rounds; the
  timeout bounds them too."
  12)

;;; Running git

(defn- kill! [^Process p]
  (doseq [^java.lang.ProcessHandle h (iterator-seq (.iterator (.descendants p)))]
    (.destroyForcibly h))
  (.destroyForcibly p))

(defn- git
  "Runs `git args…` in `dir` and returns {:exit n :out string :err string}. Throws source-failed
  when git cannot be started or the `deadline` (System/currentTimeMillis) passes first; git and
  its children are then killed."
  [{:keys [cfg what]} ^File dir deadline & args]
  (let [pb (doto (ProcessBuilder. ^java.util.List (into ["git"] args))
             (.directory dir))
        env (.environment pb)
        _ (doto env
            (.put "GIT_TERMINAL_PROMPT" "0")
            (.put "LC_ALL" "C")                  ; the messages matched below are English
            (.remove "GIT_DIR")
            (.remove "GIT_WORK_TREE")
            (.put "GIT_AUTHOR_NAME" "shoal")
            (.put "GIT_AUTHOR_EMAIL" "shoal@localhost")
            (.put "GIT_COMMITTER_NAME" "shoal")
            (.put "GIT_COMMITTER_EMAIL" "shoal@localhost")
            ;; whatever the user's git config says: no signing prompt, no hooks, no init hint
            (.put "GIT_CONFIG_COUNT" "3")
            (.put "GIT_CONFIG_KEY_0" "commit.gpgSign")
            (.put "GIT_CONFIG_VALUE_0" "false")
            (.put "GIT_CONFIG_KEY_1" "core.hooksPath")
            (.put "GIT_CONFIG_VALUE_1" "/dev/null")
            (.put "GIT_CONFIG_KEY_2" "init.defaultBranch")
            (.put "GIT_CONFIG_VALUE_2" "shoal"))
        _ (when-not (.containsKey env "GIT_SSH_COMMAND")
            (.put env "GIT_SSH_COMMAND" "ssh -o BatchMode=yes"))
        ^Process p (try (.start pb)
               (catch java.io.IOException e
                 (throw (d/failed cfg (str what ": cannot run git: " (ex-message e)) e))))]
    (try
      (.close (.getOutputStream p))
      (let [text (fn [^java.io.InputStream in] (String. (.readAllBytes in) StandardCharsets/UTF_8))
            out (future (text (.getInputStream p)))
            err (future (text (.getErrorStream p)))
            left (- deadline (System/currentTimeMillis))]
        (when-not (and (pos? left) (.waitFor p left TimeUnit/MILLISECONDS))
          (kill! p)
          (throw (d/failed cfg (str what ": timed out (git " (first args) ")"))))
        {:exit (.exitValue p) :out @out :err @err})
      (catch InterruptedException e
        (.interrupt (Thread/currentThread))
        (throw (d/failed cfg (str what ": interrupted (git " (first args) ")") e)))
      (finally
        (when (.isAlive p) (kill! p))))))

(defn- git-message
  "git's own explanation, one line: its first fatal: or error: line, else its last line."
  [s]
  (let [lines (remove str/blank? (str/split-lines (str s)))]
    (str/trim (or (first (filter #(re-find #"^(fatal|error): " %) lines))
                  (last lines)
                  "no message"))))

(defn- git!
  "Like `git`, but a non-zero exit is a source-failed naming `doing` and git's message."
  [src dir deadline doing & args]
  (let [{:keys [exit err] :as r} (apply git src dir deadline args)]
    (when-not (zero? exit)
      (throw (d/failed (:cfg src) (str (:what src) ": " doing " failed: " (git-message err)))))
    r))

(defn- delete-tree!
  "Deletes `dir` and everything under it, never following a symbolic link out of it."
  [^File dir]
  (with-open [paths (Files/walk (.toPath dir) (make-array FileVisitOption 0))]
    (doseq [^Path p (reverse (vec (iterator-seq (.iterator paths))))]
      (try (Files/deleteIfExists p) (catch java.io.IOException _ nil)))))

(defn- with-temp-dir*
  "Calls `(f dir)` with a new temp directory, deleted afterwards."
  [f]
  (let [dir (.toFile (Files/createTempDirectory "shoal-discovery-git" (make-array FileAttribute 0)))]
    (try (f dir)
         (finally (delete-tree! dir)))))

(defn- fetch!
  "Fetches the tip of the source's branch into a new repository in `dir`. Returns true, or false
  when the repository has no such branch (yet)."
  [{:keys [repo ref] :as src} dir deadline]
  (git! src dir deadline "git init" "init" "-q" ".")
  (let [{:keys [exit err]} (git src dir deadline "fetch" "-q" "--depth" "1" "--no-tags" "--" repo ref)]
    (cond
      (zero? exit) true
      (re-find #"couldn't find remote ref" err) false
      :else (throw (d/failed (:cfg src) (str (:what src) ": fetch failed: " (git-message err)))))))

(defn- read-file
  "The addresses in the fetched file, or nil when the commit has no such file."
  [{:keys [cfg what path ref] :as src} dir deadline]
  (let [{:keys [exit out err]} (git src dir deadline "show" (str "FETCH_HEAD:" path))]
    (cond
      (zero? exit) (d/read-addresses cfg (str what ": " path) out)
      (re-find #"does not exist|exists on disk, but not in" err) nil
      :else (throw (d/failed cfg (str what ": reading " path " at " ref " failed: " (git-message err)))))))

;;; Publication

(defn- rejected?
  "Whether a push failed because the branch moved (someone else published first)."
  [err]
  (boolean (re-find #"\[rejected\]|non-fast-forward|fetch first|cannot lock ref|failed to update ref|\[remote rejected\]"
                    err)))

(defn- publish-once
  "One round: :published, :unchanged, or :retry when the push was refused because the branch moved."
  [{:keys [cfg what repo ref path] :as src} address deadline]
  (with-temp-dir*
    (fn [^File dir]
      (let [exists? (fetch! src dir deadline)
            listed (or (when exists? (read-file src dir deadline)) [])]
        (if (some #{address} listed)
          :unchanged
          (let [f (io/file dir path)]
            ;; The fetched tree goes into the index only, never the work tree: the one file in
            ;; the work tree is ours, so a symbolic link in the repo cannot make us write elsewhere.
            (when exists?
              (git! src dir deadline "git reset" "reset" "-q" "--soft" "FETCH_HEAD")
              (git! src dir deadline "git read-tree" "read-tree" "FETCH_HEAD"))
            (io/make-parents f)
            (spit f (d/write-addresses (conj listed address)) :encoding "UTF-8")
            (git! src dir deadline "git add" "add" "--" path)
            (git! src dir deadline "git commit" "commit" "-q" "--no-verify"
                  "-m" (str "shoal: publish " (d/address-str address)))
            (let [{:keys [exit err]} (git src dir deadline "push" "-q" "--no-verify" "--" repo
                                          (str "HEAD:refs/heads/" ref))]
              (cond
                (zero? exit) :published
                (rejected? err) :retry
                :else (throw (d/failed cfg (str what ": push failed: " (git-message err))))))))))))

(defrecord Git [cfg what repo path ref]
  d/Source
  (candidates [this timeout-ms]
    (let [deadline (+ (System/currentTimeMillis) timeout-ms)]
      (with-temp-dir*
        (fn [dir]
          (when-not (fetch! this dir deadline)
            (throw (d/failed cfg (str what ": no branch " ref " in " repo))))
          (or (read-file this dir deadline)
              (throw (d/failed cfg (str what ": no file " path " at " ref))))))))

  d/Publish
  (publish [this address timeout-ms]
    (let [deadline (+ (System/currentTimeMillis) timeout-ms)]
      (loop [n 1]
        (case (publish-once this address deadline)
          :published true
          :unchanged false
          :retry (let [pause (+ 10 (rand-int (min 1000 (* 40 (bit-shift-left 1 (min n 5))))))]
                   (if (and (< n attempts) (< (+ (System/currentTimeMillis) pause) deadline))
                     (do (log/debug what "moved while publishing, retrying")
                         (Thread/sleep pause)
                         (recur (inc n)))
                     (throw (d/failed cfg (str what ": push refused " n
                                               " times: the branch keeps moving"))))))))))

;;; Building

(defn- relative-path? [p]
  (and (string? p) (not (str/blank? p))
       (not (str/starts-with? p "/"))
       (not-any? #{".." "." ""} (str/split p #"/"))
       (not (re-find #"[\x00-\x1f\\:]" p))))

(defn- ref-name? [r]
  (and (string? r) (re-matches #"[A-Za-z0-9._/-]+" r)
       (not (str/starts-with? r "-")) (not (str/includes? r "..")) (not (str/ends-with? r "/"))))

(defmethod d/source :git [{:keys [repo path ref] :or {ref "main"} :as cfg}]
  (let [what (d/describe (assoc cfg :ref ref))]
    (when-not (and (string? repo) (not (str/blank? repo)) (not (str/starts-with? repo "-")))
      (throw (d/invalid cfg (str what ": :repo must be a repository path or URL"))))
    (when-not (relative-path? path)
      (throw (d/invalid cfg (str what ": :path must be a relative path inside the repository"))))
    (when-not (ref-name? ref)
      (throw (d/invalid cfg (str what ": :ref must be a branch name"))))
    (->Git cfg what repo path ref)))
