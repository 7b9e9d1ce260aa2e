// InterInv prompt helper: everything under window.interinv; it binds no keys.
(function () {
    "use strict";
    var ns = (window.interinv = window.interinv || {});

    function app() {
        return typeof gradioApp === "function" ? gradioApp() : document;
    }

    ns.promptArea = function (tabname) {
        var root = app();
        return root && root.querySelector ? root.querySelector("#" + tabname + "_prompt textarea") : null;
    };

    ns.template = function (interaction, subject1, subject2) {
        var t = (interaction && interaction.tokens) || {};
        var name = function (role) { return (t[role] && t[role].name) || interaction.slug + "_" + role; };
        return [subject1, name("p1"), name("r"), subject2, name("p2")].join(" ");
    };

    // Insert text at the cursor of a textarea and tell gradio through updateInput.
    ns.insertAtCursor = function (textarea, text) {
        if (!textarea) return false;
        var start = textarea.selectionStart == null ? textarea.value.length : textarea.selectionStart;
        var end = textarea.selectionEnd == null ? start : textarea.selectionEnd;
        textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
        textarea.selectionStart = textarea.selectionEnd = start + text.length;
        if (typeof updateInput === "function") {
            updateInput(textarea);
        } else {
            textarea.dispatchEvent(new Event("input", {bubbles: true}));
        }
        return true;
    };

    ns.insertInteraction = function (tabname, interaction, subject1, subject2) {
        var subjects = interaction.subjects || ["", ""];
        var o1 = subject1 == null ? subjects[0] : subject1;
        var o2 = subject2 == null ? subjects[1] : subject2;
        return ns.insertAtCursor(ns.promptArea(tabname), ns.template(interaction, o1, o2));
    };

    // The list comes through the tab's hidden gradio event, which works whatever --api-auth is; the HTTP API only
    // when the tab could not be built.
    ns.fetchInteractions = function () {
        var button = app().querySelector("#interinv_list_interactions");
        if (!button) {
            return fetch("./interinv/v1/interactions").then(function (r) { return r.ok ? r.json() : {interactions: []}; })
                .then(function (data) { return data.interactions || []; }).catch(function () { return []; });
        }
        return new Promise(function (resolve) {
            ns.pendingLists = (ns.pendingLists || []).concat([resolve]);
            button.click();
            // Forge fires onUiLoaded before gradio 4 has wired the button, which drops that first click: click again
            // until the list arrives (receiveInteractions empties pendingLists), a bounded number of times.
            var tries = 0;
            var again = setInterval(function () {
                if (!(ns.pendingLists || []).length || ++tries > ns.listRetries) {
                    clearInterval(again);
                    return;
                }
                button.click();
            }, ns.listRetryMs);
        });
    };

    ns.listRetries = 30;
    ns.listRetryMs = 2000;

    // What the hidden event hands over: the manifests as JSON text.
    ns.receiveInteractions = function (text) {
        var items = [];
        try { items = JSON.parse(text) || []; } catch (e) { items = []; }
        (ns.pendingLists || []).splice(0).forEach(function (resolve) { resolve(items); });
        return [];
    };

    // A select beside each prompt; choosing asks for the two subjects, prefilled from the manifest.
    ns.attach = function (tabname, interactions) {
        var area = ns.promptArea(tabname);
        if (!area || app().querySelector("#interinv_" + tabname + "_select")) return null;
        var select = document.createElement("select");
        select.id = "interinv_" + tabname + "_select";
        select.title = "Insert an interaction";
        // A1111 puts the prompt in a flex row whose children share the width: keep the menu its own small size
        select.style.flex = "0 0 auto";
        select.style.alignSelf = "flex-start";
        var first = document.createElement("option");
        first.textContent = "Interactions";
        first.value = "";
        select.appendChild(first);
        interactions.forEach(function (item, index) {
            var option = document.createElement("option");
            option.value = String(index);
            option.textContent = item.slug;
            select.appendChild(option);
        });
        select.addEventListener("change", function () {
            var item = interactions[Number(select.value)];
            select.value = "";
            if (!item) return;
            var subjects = item.subjects || ["", ""];
            var o1 = window.prompt("Subject 1", subjects[0]);
            if (o1 === null) return;
            var o2 = window.prompt("Subject 2", subjects[1]);
            if (o2 === null) return;
            ns.insertInteraction(tabname, item, o1, o2);
        });
        var holder = area.closest ? area.closest("#" + tabname + "_prompt") : null;
        (holder && holder.parentNode ? holder.parentNode : area.parentNode).appendChild(select);
        return select;
    };

    // The Train button: a progress id for wrap_gradio_gpu_call, and the WebUI's progress bar.
    ns.startTraining = function () {
        var args = Array.prototype.slice.call(arguments);
        if (typeof randomId === "function" && typeof requestProgress === "function") {
            var id = randomId();
            var root = app();
            requestProgress(id, root.querySelector("#interinv_progress"), root.querySelector("#interinv_gallery"),
                function () {}, function (progress) {
                    var box = root.querySelector("#interinv_progress");
                    if (box && progress.textinfo) box.setAttribute("data-textinfo", progress.textinfo);
                });
            args[0] = id;
        }
        return args;
    };

    ns.init = function () {
        return ns.fetchInteractions().then(function (items) {
            return ["txt2img", "img2img"].map(function (tab) { return ns.attach(tab, items); });
        });
    };

    if (typeof onUiLoaded === "function") {
        onUiLoaded(ns.init);
    }
})();
