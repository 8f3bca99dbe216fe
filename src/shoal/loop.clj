(ns shoal.loop
  "The two pieces every long-running loop of a node needs (STYLE.md §6): a named, supervised
  thread and a jittered backoff.

  A supervised thread ends quietly when interrupted. Expected failures are the loop's own
  business (log, back off, retry). Anything that still escapes is a bug or a dying JVM (an
  `Error` such as OutOfMemoryError): it is logged at ERROR and handed to `:on-fatal`, so that
  the node stops loudly instead of living on as a zombie whose lease is no longer kept."
  (:require [clojure.tools.logging :as log]))

(defn backoff-ms
  "Delay before retry `attempt` (0-based): `base-ms`·2^attempt capped at `max-ms`, times a
  jitter in [0.5, 1.5) so that nodes failing together do not retry in lockstep."
  [base-ms max-ms attempt]
  (long (* (min max-ms (* base-ms (Math/pow 2 (min attempt 30)))) (+ 0.5 (rand)))))

(defn supervised-thread
  "Starts `(f)` on a daemon thread named `name` and returns the thread. An InterruptedException
  ends it quietly; any other Throwable is logged at ERROR and passed to `(on-fatal name t)`
  when given."
  ([name f] (supervised-thread name f {}))
  ([name f {:keys [on-fatal]}]
   (doto (Thread. ^Runnable (fn []
                              (try (f)
                                   (catch InterruptedException _ nil)
                                   (catch Throwable t
                                     (log/error t "thread" name "died")
                                     (when on-fatal (on-fatal name t)))))
                  ^String name)
     (.setDaemon true)
     (.start))))

(defn sleep!
  "Sleeps `ms`; returns false instead of throwing when interrupted (and keeps the thread's
  interrupt flag set), so that a loop can end with `(when (sleep! ms) (recur ...))`."
  [ms]
  (try (Thread/sleep (long ms)) true
       (catch InterruptedException _
         (.interrupt (Thread/currentThread))
         false)))
