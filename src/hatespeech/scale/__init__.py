"""Scale-out on Ray (optional extra ``.[ray]``): Ray Serve for the API, Ray Data for batch scoring."""
