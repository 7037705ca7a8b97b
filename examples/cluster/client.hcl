# A client node of the three servers: it fails over between them.
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

# This example shows the servers' cluster alone: ACL tokens and TLS, which every agent
# outside -dev has unless its config says otherwise (as here), are the README's
# "Production" section.
acl {
  enabled = false
}
tls {
  enabled = false
}
