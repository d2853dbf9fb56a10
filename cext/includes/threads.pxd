# What the watchdog thread needs beyond includes/system.pxd: POSIX threads,
# signals, process exit, time formatting for log lines written without Python.

from includes.system cimport time_t, timespec

cdef extern from "pthread.h" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_attr_t:
        pass
    int pthread_attr_init(pthread_attr_t *attr)
    int pthread_attr_setstacksize(pthread_attr_t *attr, size_t size)
    int pthread_attr_setdetachstate(pthread_attr_t *attr, int state)
    int pthread_attr_destroy(pthread_attr_t *attr)
    int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                       void *(*start)(void *) noexcept nogil, void *arg)
    enum:
        PTHREAD_CREATE_DETACHED

cdef extern from "signal.h" nogil:
    int kill(int pid, int sig)
    int raise_signal "raise"(int sig)
    enum:
        SIGTERM

cdef extern from "unistd.h" nogil:
    int getpid()
    void _exit(int status)
    int dup(int fd)
    int dup2(int oldfd, int newfd)

cdef extern from "fcntl.h" nogil:
    enum:
        F_DUPFD_CLOEXEC

cdef extern from "time.h" nogil:
    struct tm:
        pass
    tm *localtime_r(const time_t *timep, tm *result)
    tm *gmtime_r(const time_t *timep, tm *result)
    time_t time(time_t *t)
    size_t strftime(char *s, size_t maxsize, const char *fmt, const tm *t)
    int nanosleep(const timespec *req, timespec *rem)
    enum:
        CLOCK_REALTIME

cdef extern from "stdio.h" nogil:
    int snprintf(char *s, size_t n, const char *fmt, ...)

cdef extern from "Python.h":
    int PyThreadState_SetAsyncExc(unsigned long thread_id, object exc)
