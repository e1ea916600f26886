# file() of what is not a regular file: refused before it is opened.
# mkfifo: fifo
locals {
  fifo = file("fifo") # error: Invalid function argument | is not a regular file (a named pipe (FIFO))
  zero = file("/dev/zero") # error: Invalid function argument | is not a regular file (a character device)
  dir  = file("/") # error: Invalid function argument | is not a regular file (a directory)
  kmsg = file("/proc/kmsg") # error: Invalid function argument | /proc/kmsg
}
