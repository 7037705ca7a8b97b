# The demoapp job of examples/demoapp.hcl in the current syntax: the network
# belongs to the group, the port says where it goes inside the container (`to`),
# and the task lists the ports it uses. Both files give the same job.
job "demoapp" {
  region      = "europe"
  datacenters = ["europe-west1"]
  type        = "service"

  update {
    canary       = 1
    max_parallel = 1
  }

  group "webs" {
    count = 2

    network {
      mbits = 10
      port "http" {
        to = 80
      }
    }

    restart {
      attempts = 3
      delay    = "30s"
      interval = "2m"
      mode     = "delay"
    }

    task "frontend" {
      driver = "docker"

      config {
        image = "httpd"
        ports = ["http"]
      }

      service {
        port = "http"
        tags = [
          "traefik.frontend.rule=Host:demo.exemple.com",
          "traefik.tags=exposed",
        ]
      }

      resources {
        cpu    = 200
        memory = 64
      }
    }
  }
}
