"""HTTP only: the NGSI-LD API routers, content negotiation and the one error map."""
