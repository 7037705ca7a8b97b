# A client node of the three servers: it fails over between them. It joins the cluster with a
# join token (`ruche join-token create` on a server; -join-token TOKEN, or client { join_token }).
name       = "web-1"
region     = "europe"
datacenter = "europe-west1"
data_dir   = "/tmp/ruche-cluster/web-1"
bind_addr  = "127.0.0.1"

ports {
  http = 5946
}

client {
  enabled = true
  servers = ["127.0.0.1:5646", "127.0.0.1:5746", "127.0.0.1:5846"]
  meta {
    role = "web"
  }
}
