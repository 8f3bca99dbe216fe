(ns shoal.test.util
  "Small helpers every test tier shares: a free loopback port, throwaway directories, and polling
  with a deadline. Tests wait for a condition with `poll` and assert on what it returns; they
  never assert how long something took."
  (:require [clojure.java.io :as io])
  (:import (java.io File)
           (java.net InetAddress ServerSocket)
           (java.nio.file Files LinkOption)
           (java.nio.file.attribute FileAttribute)
           (java.util.concurrent TimeUnit)))

(defn free-port
  "A TCP port free on loopback right now: binds port 0 on the loopback address, reads the port
  and releases it. Another process may take it before the caller binds it; tests accept that."
  []
  (with-open [s (ServerSocket. 0 1 (InetAddress/getLoopbackAddress))]
    (.getLocalPort s)))

(defn temp-dir
  "A fresh, empty directory under java.io.tmpdir whose name starts with `prefix`, as a
  java.io.File (wrap it with `str` where a path string is wanted). The caller deletes it, see
  `delete-tree` and `with-temp-dir`."
  ^File [prefix]
  (.toFile (Files/createTempDirectory prefix (make-array FileAttribute 0))))

(defn delete-tree
  "Deletes the file or directory tree at `path` (a string or a File). A symbolic link is deleted
  as a link: what it points to is never entered nor deleted. What is already gone is ignored.
  Returns nil."
  [path]
  (let [f (io/file path)]
    (when (Files/isDirectory (.toPath f) (into-array LinkOption [LinkOption/NOFOLLOW_LINKS]))
      (run! delete-tree (.listFiles f)))
    (.delete f)
    nil))

(defmacro with-temp-dir
  "Runs `body` with `sym` bound to a fresh `temp-dir` (a File) named after `prefix`, and always
  deletes the directory afterwards. Returns body's value."
  [[sym prefix] & body]
  `(let [~sym (temp-dir ~prefix)]
     (try ~@body
          (finally (delete-tree ~sym)))))

(defn poll
  "Calls `(f)` every `interval-ms` (default 100) until it returns a truthy value, and returns
  that value; returns nil once `timeout-ms` has passed with no truthy value (f is called at
  least once, and once more after the deadline when the deadline falls in a sleep). An
  exception thrown by f counts as a falsy value, except an interrupt, which ends the poll."
  ([timeout-ms f] (poll timeout-ms 100 f))
  ([timeout-ms interval-ms f]
   (let [deadline (+ (System/nanoTime) (.toNanos TimeUnit/MILLISECONDS timeout-ms))]
     (loop []
       (let [v (try (f)
                    (catch InterruptedException e (throw e))
                    (catch Exception _ nil))]
         (cond v v
               (neg? (- (System/nanoTime) deadline)) (do (Thread/sleep (long interval-ms)) (recur))
               :else nil))))))
