-- Argo CD health check of partners.partnerops.dev/PartnerAccount.
-- From the partnerops repository (config/argocd, docs/argocd.md); it runs
-- in Argo CD's Lua sandbox without the standard libraries: it uses only
-- the global obj and the base and table functions, no string, math, os or
-- io.
--
-- Healthy: Active; waiting for partners to accept (that may take days, so
-- it must not hold sync waves and hooks); NoUsersOrSystems, a legitimate
-- state of an account nobody holds a system in.
-- Progressing: the controller has not seen this generation yet, it is
-- creating, updating or removing the invitations of spec.users, a
-- member's grants wait for an identity backend that cannot be reached, or
-- the account is being deleted.
-- Degraded: ActionRequired (nothing active, nothing waiting, and some
-- invitation expired or failed: the Ready message names them and says what
-- to do), Ready=False for a reason that needs someone (invalid
-- invitations, a user invited twice, a member's grants not as Git asks),
-- or every invitation expired (the
-- status of a partnerops from before ActionRequired).

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

-- "Reason: message" of a condition.
local function said(c)
  if c.message == nil or c.message == "" then
    return c.reason
  end
  return c.reason .. ": " .. c.message
end

-- "1 member" or "2 members".
local function count(n, one, many)
  if n == 1 then
    return n .. " " .. one
  end
  return n .. " " .. many
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

local ready = condition("Ready")
if ready == nil then
  return health("Progressing", "Waiting for the controller")
end
if ready.reason == "Deleting" or ready.reason == "InvitationsPending" or ready.reason == "GrantsPending" then
  return health("Progressing", said(ready))
end
if status.state == "ActionRequired" then
  -- Ready=False/InvitationsExpired or InvitationsFailed names the
  -- invitations to resend or fix.
  return health("Degraded", "ActionRequired: " .. said(ready))
end
if ready.status ~= "True" then
  -- InvalidInvitations, DuplicateUser, or any reason a newer partnerops
  -- adds: Ready=False says something needs attention.
  return health("Degraded", said(ready))
end

-- The invitations by state, as `kubectl get pa` counts them.
local invitations = status.invitations or {}
local members = status.memberCount or invitations.accepted or 0
local pending = invitations.pending or 0
local expired = invitations.expired or 0
local parts = {}
if members > 0 then
  table.insert(parts, count(members, "member", "members"))
end
if pending > 0 then
  table.insert(parts, pending .. " pending")
end
if expired > 0 then
  table.insert(parts, expired .. " expired")
end
local counts = table.concat(parts, ", ")

local state = status.state
if state == "Active" then
  return health("Healthy", "Active: " .. counts)
end
if state == "PendingApproval" then
  if pending == 0 and expired > 0 then
    -- Nobody can accept any more: every link ran out.
    return health("Degraded", "No invitation is waiting for a partner any more (" .. counts .. "); raise spec.resend on the expired PartnerInvitations to send fresh links")
  end
  return health("Healthy", "Waiting for partners to accept (" .. counts .. ")")
end
if state == "NoUsersOrSystems" then
  if counts == "" then
    return health("Healthy", "NoUsersOrSystems: the account has no users")
  end
  return health("Healthy", "NoUsersOrSystems: no user of the account holds a system (" .. counts .. ")")
end
-- A state this check does not know (a newer partnerops), with Ready=True.
return health("Healthy", state .. ": " .. said(ready))
