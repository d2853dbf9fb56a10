# System calls used by the extension, declared nogil: the I/O paths run
# without the GIL so other worker threads keep running Python.

cdef extern from "errno.h" nogil:
    int errno
    enum:
        EINTR
        EAGAIN
        EWOULDBLOCK
        ECONNABORTED
        EMFILE
        ENFILE
        ENOBUFS
        ENOMEM
        EPROTO
        EPIPE
        ECONNRESET
        EINVAL
        EBADF
        ETIMEDOUT

cdef extern from "unistd.h" nogil:
    ssize_t read(int fd, void *buf, size_t count)
    ssize_t write(int fd, const void *buf, size_t count)
    int close(int fd)
    int pipe2(int *fds, int flags)
    long sysconf(int name)
    enum:
        _SC_PAGESIZE

cdef extern from "sys/types.h":
    ctypedef long off_t

cdef extern from "sys/socket.h" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr:
        pass
    ssize_t recv(int fd, void *buf, size_t n, int flags)
    ssize_t send(int fd, const void *buf, size_t n, int flags)
    int accept4(int fd, sockaddr *addr, socklen_t *addrlen, int flags)
    int shutdown(int fd, int how)
    int sockatmark(int fd)
    int setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
    struct iovec:
        void *iov_base
        size_t iov_len
    struct msghdr:
        void *msg_name
        socklen_t msg_namelen
        iovec *msg_iov
        size_t msg_iovlen
        void *msg_control
        size_t msg_controllen
        int msg_flags
    ssize_t sendmsg(int fd, const msghdr *msg, int flags)
    enum:
        SHUT_RD
        SHUT_WR
        SHUT_RDWR
        MSG_NOSIGNAL
        MSG_DONTWAIT
        SOCK_NONBLOCK
        SOCK_CLOEXEC
        SOL_SOCKET
        SO_RCVBUF
        SO_SNDBUF

cdef extern from "sys/mman.h" nogil:
    int madvise(void *addr, size_t length, int advice)
    enum:
        MADV_DONTNEED

cdef extern from "sys/sendfile.h" nogil:
    ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)

cdef extern from "poll.h" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    int poll(pollfd *fds, unsigned long nfds, int timeout)
    enum:
        POLLIN
        POLLOUT
        POLLERR
        POLLHUP
        POLLNVAL

cdef extern from "sys/epoll.h" nogil:
    union epoll_data_t:
        void *ptr
        int fd
        unsigned int u32
        unsigned long long u64
    struct epoll_event:
        unsigned int events
        epoll_data_t data
    int epoll_create1(int flags)
    int epoll_ctl(int epfd, int op, int fd, epoll_event *event)
    int epoll_wait(int epfd, epoll_event *events, int maxevents, int timeout)
    enum:
        EPOLL_CLOEXEC
        EPOLL_CTL_ADD
        EPOLL_CTL_MOD
        EPOLL_CTL_DEL
        EPOLLIN
        EPOLLOUT
        EPOLLERR
        EPOLLHUP
        EPOLLONESHOT
        EPOLLEXCLUSIVE
        EPOLLRDHUP

cdef extern from "sys/eventfd.h" nogil:
    int eventfd(unsigned int initval, int flags)
    enum:
        EFD_CLOEXEC
        EFD_NONBLOCK

cdef extern from "string.h" nogil:
    void *memcpy(void *dest, const void *src, size_t n)
    void *memchr(const void *s, int c, size_t n)
    void *memmove(void *dest, const void *src, size_t n)

cdef extern from "time.h" nogil:
    ctypedef long time_t
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec *tp)
    enum:
        CLOCK_MONOTONIC

cdef extern from "sys/timerfd.h" nogil:
    struct itimerspec:
        timespec it_interval
        timespec it_value
    int timerfd_create(int clockid, int flags)
    int timerfd_settime(int fd, int flags, const itimerspec *new_value, itimerspec *old_value)
    enum:
        TFD_NONBLOCK
        TFD_CLOEXEC
        TFD_TIMER_ABSTIME

cdef extern from "fcntl.h" nogil:
    int fcntl(int fd, int cmd, ...)
    # The offsets are loff_t *; only NULL is ever passed (sockets and pipes).
    ssize_t splice(int fd_in, void *off_in, int fd_out, void *off_out, size_t len,
                   unsigned int flags)
    enum:
        F_GETFL
        F_SETFL
        O_NONBLOCK
        O_CLOEXEC
        SPLICE_F_MOVE
        SPLICE_F_NONBLOCK

cdef extern from "pthread.h" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *m, void *attr)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    int pthread_mutex_destroy(pthread_mutex_t *m)

cdef extern from "netinet/in.h" nogil:
    struct sockaddr_in:
        unsigned short sin_family
        unsigned short sin_port
    struct sockaddr_in6:
        unsigned short sin6_family
        unsigned short sin6_port
    struct sockaddr_storage:
        unsigned short ss_family
    unsigned short ntohs(unsigned short)
    enum:
        AF_INET
        AF_INET6
        AF_UNIX

cdef extern from "arpa/inet.h" nogil:
    const char *inet_ntop(int af, const void *src, char *dst, socklen_t size)

cdef extern from *:
    """
    #include <netinet/in.h>
    static inline const void *fw_sin_addr(const void *sa) {
        return &((const struct sockaddr_in *)sa)->sin_addr;
    }
    static inline const void *fw_sin6_addr(const void *sa) {
        return &((const struct sockaddr_in6 *)sa)->sin6_addr;
    }
    """
    const void *fw_sin_addr(const void *sa) nogil
    const void *fw_sin6_addr(const void *sa) nogil

# The client side of TCP (loadgen.pyx; socket() and connect() are declared in relay.pyx).
cdef extern from "errno.h" nogil:
    enum:
        EINPROGRESS

cdef extern from "sys/socket.h" nogil:
    int getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
    enum:
        SO_ERROR

cdef extern from "netinet/in.h" nogil:
    enum:
        IPPROTO_TCP

cdef extern from "netinet/tcp.h" nogil:
    enum:
        TCP_NODELAY
