namespace Detach.Crypto;
