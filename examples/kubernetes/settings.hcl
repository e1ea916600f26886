# What differs between clusters, and the defaults of every check.

variable "cluster" {
  type        = string
  default     = "prod-eu-1"
  description = "The cluster's name, as a label on every result."
}

variable "apiserver_endpoint" {
  type        = string
  default     = "k8s-api.internal:6443"
  description = "host:port of the API servers' load balancer, which workers use."
}

variable "pki" {
  type        = string
  default     = "/etc/kubernetes/pki"
  description = "Where kubeadm keeps the cluster's certificates."
}

variable "etcd_endpoint" {
  type        = string
  default     = "https://127.0.0.1:2379"
  description = "This master's etcd, its client URL (scheme, host and port)."
}

variable "etcd_data_dir" {
  type        = string
  default     = "/var/lib/etcd"
  description = "etcd's data dir (its --data-dir), where disk_latency writes its test file."
}

variable "etcd_peer_address" {
  type        = string
  default     = "127.0.0.1:2380"
  description = "host:port of this master's etcd peer listener."
}

defaults {
  interval = "15s"
  timeout  = "5s"
  labels   = { team = "platform", cluster = var.cluster }
}
