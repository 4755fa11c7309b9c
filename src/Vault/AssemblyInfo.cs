namespace Detach.Vault;
