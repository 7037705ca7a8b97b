# The server of region europe (the reference article's GCP cloud, datacenter europe-west1), as
# the article's server config with paths and ports changed so that two regions run on one
# machine. One server here; the article's three take bootstrap_expect = 3 and server_join.
name       = "eu-server"
region     = "europe"
datacenter = "europe-west1"
data_dir   = "/tmp/ruche-regions/eu-server"
bind_addr  = "127.0.0.1"

ports {
  http   = 6646
  consul = 6500
  dns    = 6600
}

server {
  enabled          = true
  bootstrap_expect = 1
}

# TLS and ACLs off, to keep this example short: the two regions federate in plain HTTP, which
# anyone on the network can read and forge. A server with TLS on never federates in plain HTTP.
tls {
  enabled = false
}

acl {
  enabled = false
}
