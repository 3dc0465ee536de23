//! Cluster bootstrap artifacts: the PKI kubeadm needs, the admin kubeconfig, bootstrap tokens,
//! and the cloud-init user-data each node is deployed with.
