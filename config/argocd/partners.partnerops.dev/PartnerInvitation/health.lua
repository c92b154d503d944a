-- Argo CD health check of partners.partnerops.dev/PartnerInvitation.
-- From the partnerops repository (config/argocd, docs/argocd.md); it runs
-- in Argo CD's Lua sandbox without the standard libraries: it uses only
-- the global obj and the base and table functions, no string, math, os or
-- io.
--
-- Healthy: accepted with its grants in place; waiting for the partner with
-- the email delivered (a pending invitation may wait for days, so it must
-- not hold sync waves and hooks); withdrawn, declined or its account gone.
-- Progressing: the controller has not seen this generation yet, the email
-- waits for its turn, or the grants of an accepted user are on their way.
-- Degraded: a spec the operator cannot honour (Invalid), an expired link,
-- an email that cannot be delivered, grants that cannot be synced.

local function health(status, message)
  return {status = status, message = message}
end

local function condition(name)
  if obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == name then
      return c
    end
  end
  return nil
end

-- "Reason: message" of a condition, or fallback when there is none.
local function said(c, fallback)
  if c == nil then
    return fallback
  end
  if c.message == nil or c.message == "" then
    return c.reason
  end
  return c.reason .. ": " .. c.message
end

local status = obj.status
if status == nil or status.state == nil or status.state == "" then
  return health("Progressing", "Waiting for the controller")
end
local generation = obj.metadata.generation
local observed = status.observedGeneration or 0
if generation ~= nil and observed < generation then
  return health("Progressing", "Waiting for the controller to observe generation " .. generation .. " (the status is of generation " .. observed .. ")")
end

local state = status.state
local ready = condition("Ready")

if state == "PendingApproval" or state == "Expired" then
  -- A send that failed or waits: the first one, or a resend while the
  -- previous link is still valid (Ready stays True then) or after it
  -- expired.
  local email = condition("EmailSent")
  if email ~= nil and email.status == "False" and email.reason ~= "ResendNotAllowed" then
    local link = ""
    if state == "Expired" and status.expiresAt ~= nil then
      link = "; the previous link expired at " .. status.expiresAt
    elseif status.sentAt ~= nil and status.expiresAt ~= nil then
      link = "; the previous link is valid until " .. status.expiresAt
    end
    if email.reason == "RateLimited" or email.reason == "Sending" then
      return health("Progressing", said(email) .. link)
    end
    return health("Degraded", said(email) .. link)
  end
end

if state == "PendingApproval" then
  if ready ~= nil and ready.status == "True" then
    -- Delivered; the partner has until expiresAt to answer.
    if status.expiresAt ~= nil then
      return health("Healthy", "Waiting for " .. obj.spec.email .. " to accept until " .. status.expiresAt)
    end
    return health("Healthy", "Waiting for " .. obj.spec.email .. " to accept")
  end
  return health("Progressing", said(ready, "Sending: the invitation email is being sent"))
end

if state == "Accepted" then
  local grants = condition("GrantsSynced")
  if grants ~= nil and grants.status ~= "True" then
    return health("Degraded", said(grants))
  end
  if grants ~= nil then
    return health("Healthy", "Accepted; " .. grants.message)
  end
  if obj.spec.systems == nil or #obj.spec.systems == 0 then
    return health("Healthy", "Accepted; " .. obj.spec.email .. " holds no system, so no grant applies")
  end
  return health("Progressing", "Accepted; waiting for the grants to be applied in the identity backend")
end

if state == "Expired" then
  return health("Degraded", said(condition("Expired"), said(ready, "Expired")))
end

if state == "Invalid" then
  return health("Degraded", said(ready, "Invalid"))
end

if state == "Revoked" then
  -- Withdrawn, declined or its account deleted: settled on purpose, unless
  -- the grants of a user who had accepted cannot be revoked.
  if ready ~= nil and ready.status == "False" then
    return health("Degraded", said(ready))
  end
  local grants = condition("GrantsSynced")
  if grants ~= nil and grants.status ~= "True" then
    return health("Degraded", said(ready, "Revoked") .. "; " .. said(grants))
  end
  if grants ~= nil then
    return health("Healthy", said(ready, "Revoked") .. "; " .. grants.message)
  end
  return health("Healthy", said(ready, "Revoked"))
end

-- A state this check does not know (a newer partnerops): the Ready
-- condition summarises it.
if ready ~= nil and ready.status == "True" then
  return health("Healthy", said(ready, state))
end
if ready ~= nil and ready.status == "False" then
  return health("Degraded", state .. ": " .. said(ready))
end
return health("Progressing", "Waiting for the controller")
