# The server of region us (the reference article's AWS cloud, datacenter us-west-2). It joins
# europe over the WAN (Consul's retry_join_wan): europe's server API, tried until it answers;
# europe learns of us from the asking, and each keeps the other's servers in its member list.
name       = "us-server"
region     = "us"
datacenter = "us-west-2"
data_dir   = "/tmp/ruche-regions/us-server"
bind_addr  = "127.0.0.1"

ports {
  http   = 7646
  consul = 7500
  dns    = 7600
}

server {
  enabled          = true
  bootstrap_expect = 1
  retry_join_wan   = ["127.0.0.1:6646"]
}

# TLS and ACLs off, to keep this example short: the two regions federate in plain HTTP, which
# anyone on the network can read and forge. A server with TLS on never federates in plain HTTP.
tls {
  enabled = false
}

acl {
  enabled = false
}
