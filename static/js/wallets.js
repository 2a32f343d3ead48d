/* Connect a wallet: get a nonce from the API, have the injected wallet sign the sign-in
   message, send the signature back. EVM wallets through EIP-1193 (window.ethereum,
   personal_sign); Solana wallets through the Wallet Standard ("solana:signIn"). No
   dependencies: the only encoding needed, base58 for the Solana signature, is below. */
(function () {
  "use strict";

  var section = document.getElementById("wallet-connect");
  if (!section) {
    return;
  }
  var statusLine = document.getElementById("wallet-status");

  function say(text) {
    statusLine.textContent = text;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": section.dataset.csrf },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var problems = [];
          Object.keys(data).forEach(function (key) {
            problems = problems.concat(data[key]);
          });
          throw new Error(problems.join(" ") || "The server refused the request.");
        }
        return data;
      });
    });
  }

  function utf8Hex(text) {
    var bytes = new TextEncoder().encode(text);
    var hex = "0x";
    for (var i = 0; i < bytes.length; i++) {
      hex += bytes[i].toString(16).padStart(2, "0");
    }
    return hex;
  }

  var ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  function base58(bytes) {
    var digits = [0];
    for (var i = 0; i < bytes.length; i++) {
      var carry = bytes[i];
      for (var j = 0; j < digits.length; j++) {
        carry += digits[j] << 8;
        digits[j] = carry % 58;
        carry = (carry / 58) | 0;
      }
      while (carry) {
        digits.push(carry % 58);
        carry = (carry / 58) | 0;
      }
    }
    var text = "";
    for (var k = 0; k < bytes.length && bytes[k] === 0; k++) {
      text += "1";
    }
    for (var m = digits.length - 1; m >= 0; m--) {
      text += ALPHABET[digits[m]];
    }
    return text;
  }

  /* Wallet Standard discovery: wallets register themselves through these two events. */
  var standardWallets = [];
  function register(wallet) {
    if (standardWallets.indexOf(wallet) < 0) {
      standardWallets.push(wallet);
    }
  }
  window.addEventListener("wallet-standard:register-wallet", function (event) {
    event.detail({ register: register });
  });
  window.dispatchEvent(new CustomEvent("wallet-standard:app-ready", { detail: { register: register } }));

  function connectEvm() {
    var provider = window.ethereum;
    if (!provider) {
      return Promise.reject(new Error("No Ethereum wallet was found in this browser."));
    }
    var address;
    return provider
      .request({ method: "eth_requestAccounts" })
      .then(function (accounts) {
        address = accounts[0];
        return post(section.dataset.nonceUrl, { chain: "evm", address: address });
      })
      .then(function (nonce) {
        return provider.request({ method: "personal_sign", params: [utf8Hex(nonce.message), address] }).then(
          function (signature) {
            return post(section.dataset.linkUrl, { chain: "evm", message: nonce.message, signature: signature });
          }
        );
      });
  }

  function connectSolana() {
    var wallet = standardWallets.find(function (candidate) {
      return candidate.features && candidate.features["solana:signIn"];
    });
    if (!wallet) {
      return Promise.reject(new Error("No Solana wallet with Sign-In with Solana was found in this browser."));
    }
    return post(section.dataset.nonceUrl, { chain: "solana" })
      .then(function (nonce) {
        return wallet.features["solana:signIn"].signIn({
          domain: nonce.domain,
          statement: nonce.statement,
          uri: nonce.uri,
          version: nonce.version,
          chainId: nonce.chain_id,
          nonce: nonce.nonce,
          issuedAt: nonce.issued_at,
          expirationTime: nonce.expiration_time,
        });
      })
      .then(function (outputs) {
        var output = outputs[0];
        return post(section.dataset.linkUrl, {
          chain: "solana",
          message: new TextDecoder().decode(output.signedMessage),
          signature: base58(output.signature),
        });
      });
  }

  section.addEventListener("click", function (event) {
    var button = event.target.closest("[data-connect]");
    if (!button) {
      return;
    }
    var chain = button.dataset.connect;
    say("Waiting for your wallet…");
    (chain === "evm" ? connectEvm() : connectSolana())
      .then(function (wallet) {
        say("Linked " + wallet.address + ".");
        window.location.reload();
      })
      .catch(function (error) {
        say(error.message || String(error));
      });
  });
})();
