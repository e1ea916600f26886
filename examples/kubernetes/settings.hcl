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

defaults {
  interval = "15s"
  timeout  = "5s"
  labels   = { team = "platform", cluster = var.cluster }
}
