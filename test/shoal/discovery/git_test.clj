(ns shoal.discovery.git-test
  "The :git source against bare repositories made in temp dirs: reading the file an operator
  committed, publishing from several nodes (one after the other and at once), a repo, branch or
  file that does not exist, a malformed file, and a remote that never answers."
  (:require [clojure.java.io :as io]
            [clojure.string :as str]
            [clojure.test :refer [deftest is testing]]
            [shoal.discovery :as d]
            [shoal.test.util :refer [with-temp-dir]]
            [shoal.test.discovery :as td])
  (:import (java.net InetAddress ServerSocket)))

(defn- sh
  "Runs a command (a vector, no shell) in `dir`; returns its output, throws on failure."
  [dir & cmd]
  (let [p (-> (ProcessBuilder. ^java.util.List (vec cmd))
              (.directory (io/file dir))
              (.redirectErrorStream true)
              (doto (-> .environment (.put "GIT_CONFIG_NOSYSTEM" "1")))
              (.start))
        out (slurp (.getInputStream p))]
    (when-not (zero? (.waitFor p))
      (throw (ex-info (str "command failed: " (str/join " " cmd) "\n" out) {})))
    out))

(defn- bare-repo!
  "A bare repo under `tmp`; with `files` ({path text}) committed on main by an operator."
  [tmp files]
  (let [repo (io/file tmp "peers.git")
        work (io/file tmp "operator")]
    (sh tmp "git" "init" "-q" "--bare" "-b" "main" (str repo))
    (when (seq files)
      (sh tmp "git" "clone" "-q" (str repo) (str work))
      (doseq [[path text] files]
        (io/make-parents (io/file work path))
        (spit (io/file work path) text))
      (sh work "git" "add" ".")
      (sh work "git" "-c" "user.name=op" "-c" "user.email=op@x" "commit" "-q" "-m" "peers")
      (sh work "git" "push" "-q" "origin" "HEAD:refs/heads/main"))
    (str repo)))

(defn- git-src [repo & {:as more}]
  (merge {:type :git :repo repo :path "peers.edn" :ref "main" :publish true} more))

(deftest reads-the-file-at-the-ref
  (with-temp-dir [tmp "shoal-git-test"]
    (let [repo (bare-repo! tmp {"peers.edn" "; maintained by hand\n[\"10.0.0.2:7440\" \"n3\" {:host \"n4\" :port 1}]\n"
                                "env/prod.edn" "[\"10.9.0.1:7440\"]"
                                "bad.edn" "{:peers []}"})]
      (is (= [{:host "10.0.0.2" :port 7440} {:host "n3" :port 7440} {:host "n4" :port 1}]
             (d/candidates (d/source (git-src repo)) 5000)))
      (is (= [{:host "10.9.0.1" :port 7440}]
             (d/candidates (d/source (git-src (str "file://" repo) :path "env/prod.edn")) 5000))
          "a file:// URL and a file in a directory")
      (testing "what is missing or malformed is named"
        (is (= (str "git " repo " bad.edn@main: bad.edn is not an EDN vector of \"host:port\", got {:peers []}")
               (td/failure (git-src repo :path "bad.edn") 5000)))
        (is (= (str "git " repo " nope.edn@main: no file nope.edn at main")
               (td/failure (git-src repo :path "nope.edn") 5000)))
        (is (= (str "git " repo " peers.edn@dev: no branch dev in " repo)
               (td/failure (git-src repo :ref "dev") 5000)))
        (let [missing (str tmp "/missing.git")]
          (is (re-find #"^git .*/missing\.git peers\.edn@main: fetch failed: fatal: .*does not appear to be a git repository"
                       (td/failure (git-src missing) 5000))))))))

(deftest publish-from-two-nodes
  (with-temp-dir [tmp "shoal-git-test"]
    (let [repo (bare-repo! tmp {})
          src (git-src repo)]
      (testing "into an empty repo: the branch and file are created"
        (is (= {:published [src] :unchanged [] :errors []} (d/publish! [src] "10.0.0.3:7440"))))
      (testing "a second node"
        (is (= {:published [src] :unchanged [] :errors []} (d/publish! [src] {:host "10.0.0.2" :port 7440}))))
      (testing "again: nothing to do"
        (is (= {:published [] :unchanged [src] :errors []} (d/publish! [src] "10.0.0.2:7440"))))
      (is (= [{:host "10.0.0.2" :port 7440} {:host "10.0.0.3" :port 7440}]
             (d/candidates (d/source src) 5000)))
      (is (= "[\"10.0.0.2:7440\"\n \"10.0.0.3:7440\"]\n" (sh tmp "git" "-C" repo "show" "main:peers.edn"))
          "sorted, one per line")
      (is (= "shoal <shoal@localhost>\nshoal <shoal@localhost>\n"
             (sh tmp "git" "-C" repo "log" "--format=%an <%ae>" "main"))))))

(deftest publish-keeps-the-rest-of-the-repo
  (with-temp-dir [tmp "shoal-git-test"]
    (let [repo (bare-repo! tmp {"peers.edn" "[{:host \"n1\" :port 7440}]" "README" "hello"})
          src (git-src repo)]
      (is (= [src] (:published (d/publish! [src] "n0:7440"))))
      (is (= "hello" (sh tmp "git" "-C" repo "show" "main:README")))
      (is (= "[\"n0:7440\"\n \"n1:7440\"]\n" (sh tmp "git" "-C" repo "show" "main:peers.edn")))
      (testing "a file that is not an address file is not overwritten"
        (let [bad (git-src repo :path "README")
              r (d/publish! [bad] "n0:7440")]
          (is (re-find #"README is not an EDN vector" (:reason (first (:errors r)))))
          (is (= "hello" (sh tmp "git" "-C" repo "show" "main:README"))))))))

(deftest many-nodes-publish-at-once
  (with-temp-dir [tmp "shoal-git-test"]
    (let [repo (bare-repo! tmp {"peers.edn" "[]"})
          src (git-src repo)
          addrs (for [i (range 1 9)] (str "10.0.0." i ":7440"))
          results (doall (pmap #(d/publish! [src] % 20000) addrs))]
      (is (every? #(= [src] (:published %)) results) (pr-str (mapcat :errors results)))
      (is (= (set (map d/parse-address addrs)) (set (d/candidates (d/source src) 5000)))))))

(deftest publish-only-where-asked-also-for-built-sources
  (with-temp-dir [tmp "shoal-git-test"]
    (let [repo (bare-repo! tmp {"peers.edn" "[]"})
          quiet (git-src repo :publish false)
          loud (git-src repo)]
      (is (= {:published [] :unchanged [] :errors []} (d/publish! [quiet (d/source quiet)] "n1:7440")))
      (is (= [] (d/candidates (d/source quiet) 5000)))
      (testing "a Source built once and reused keeps its config's :publish, and errors name the config"
        (is (= {:published [loud] :unchanged [] :errors []} (d/publish! [(d/source loud)] "n1:7440")))
        (is (= [{:host "n1" :port 7440}] (:candidates (d/discover [(d/source quiet)] 5000))))
        (let [gone (git-src (str tmp "/gone.git"))]
          (is (= [gone] (map :source (:errors (d/discover [(d/source gone)] 5000))))))))))

(deftest a-remote-that-never-answers-is-killed-at-the-timeout
  (with-open [silent (ServerSocket. 0 50 (InetAddress/getByName "127.0.0.1"))]
    (let [repo (str "http://127.0.0.1:" (.getLocalPort silent) "/peers.git")
          t0 (System/currentTimeMillis)
          r (d/discover [(git-src repo) {:type :static :addresses ["n1:1"]}] 700)]
      (is (= [{:host "n1" :port 1}] (:candidates r)))
      (is (= [(str "git " repo " peers.edn@main: timed out (git fetch)")] (map :reason (:errors r))))
      (is (< (- (System/currentTimeMillis) t0) 2000))
      (is (empty? (filter #(str/includes? (str (.orElse (.commandLine (.info %)) "")) (str (.getLocalPort silent)))
                          (iterator-seq (.iterator (.descendants (java.lang.ProcessHandle/current))))))
          "no git process is left behind"))))
